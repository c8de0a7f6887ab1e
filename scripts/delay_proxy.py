"""A TCP proxy on loopback that delays every chunk by DELAY_MS in each direction: a database that
far away, for scripts/bench.sh (--check).   python3 scripts/delay_proxy.py DELAY_MS TARGET_PORT PORT_FILE"""
import asyncio, sys

delay = int(sys.argv[1]) / 1000
target_port = int(sys.argv[2])


async def pipe(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(65536):
            due = loop.time() + delay
            await asyncio.sleep(max(0, due - loop.time()))
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(sys.argv[3], "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
