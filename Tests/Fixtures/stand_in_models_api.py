"""A stand-in for providers' model-list APIs, on loopback only, answering by the key it is given.

    python3 stand_in_models_api.py CONFIG_JSON

CONFIG_JSON (a file) holds:
  answers      key -> behaviour; default_answer for any other key (default "200"). Behaviours:
               "200", "401", any status; "429:30" (Retry-After: 30); "429-date:30" (Retry-After
               as an HTTP date 30 s after the answer's Date header); "slow" (answers after 60 s);
               "close" (closes the connection without answering); "after:500" (200 after 500 ms more);
               "google-invalid" (400 with Google's API_KEY_INVALID body); "redirect" (302 to the same
               path on 127.0.0.2, where a second listener counts what reaches it); "big" (200
               with a 10 MB body, sent over 3 seconds).
  latency_ms   every answer waits this long first (default 0)
  cert, key    PEM files: serve TLS
  log          each request, one JSON line: listener address, method, path, headers
  port_file    where the port is written, once both listeners are up

asyncio, so that a thousand requests at 16 at a time cost the stand-in nothing measurable. It
stops after 300 seconds in any case.
"""
import asyncio
import email.utils
import json
import signal
import ssl
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_DFL)
config = json.load(open(sys.argv[1]))
answers = config.get("answers", {})
default_answer = config.get("default_answer", "200")
latency = config.get("latency_ms", 0) / 1000
log = open(config["log"], "a", buffering=1) if config.get("log") else None
port = 0


def key_of(headers):
    authorization = headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        return authorization[len("Bearer "):]
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or ""


async def respond(writer, status, extra=(), body=b'{"data": []}'):
    reason = {200: "OK", 302: "Found", 401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Status")
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Content-Type: application/json",
            "Date: " + email.utils.formatdate(usegmt=True), *extra]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()


in_flight = 0  # requests read and not yet answered, logged with each request


async def serve(reader, writer, listener):
    try:
        await answer_requests(reader, writer, listener)
    except (ConnectionError, ssl.SSLError):
        pass  # the client went away (a timeout, a body cut short): nothing to answer


async def answer_requests(reader, writer, listener):
    while True:
        try:
            request_line = await reader.readline()
        except (ConnectionError, ssl.SSLError):
            return
        if not request_line:
            writer.close()
            return
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        global in_flight
        in_flight += 1
        if log:
            log.write(json.dumps({"listener": listener, "method": method, "path": path, "headers": headers,
                                  "in_flight": in_flight}) + "\n")
        try:
            if not await answer(writer, listener, headers, path):
                return
        finally:
            in_flight -= 1


async def answer(writer, listener, headers, path):
    """Answers one request; False when the connection is closed."""
    if listener != "127.0.0.1":
        await respond(writer, 200)
        return True
    behaviour = answers.get(key_of(headers), default_answer)
    if latency:
        await asyncio.sleep(latency)
    if behaviour.startswith("after:"):
        await asyncio.sleep(int(behaviour.split(":")[1]) / 1000)
        behaviour = "200"
    if behaviour == "slow":
        await asyncio.sleep(60)
    if behaviour == "close":
        writer.close()
        return False
    if behaviour == "redirect":
        scheme = "https" if config.get("cert") else "http"
        await respond(writer, 302, [f"Location: {scheme}://127.0.0.2:{port}{path}"])
    elif behaviour == "google-invalid":
        await respond(writer, 400, body=b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", '
                      b'"status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}')
    elif behaviour == "big":
        # 10 MB, slowly (64 KiB every 20 ms, 3 s in all): a client that reads it all times out.
        size = 10 * 1024 * 1024
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/json\r\n\r\n".encode())
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()
            await asyncio.sleep(0.02)
    elif behaviour.startswith("429-date:"):
        when = email.utils.formatdate(time.time() + int(behaviour.split(":")[1]), usegmt=True)
        await respond(writer, 429, [f"Retry-After: {when}"])
    elif behaviour.startswith("429:"):
        await respond(writer, 429, [f"Retry-After: {behaviour.split(':')[1]}"])
    else:
        await respond(writer, int(behaviour), body=b'{"error": "stand-in"}' if behaviour != "200" else b'{"data": []}')
    return True


async def main():
    global port
    context = None
    if config.get("cert"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config["cert"], config["key"])
    first = await asyncio.start_server(lambda r, w: serve(r, w, "127.0.0.1"), "127.0.0.1", 0, ssl=context)
    port = first.sockets[0].getsockname()[1]
    second = await asyncio.start_server(lambda r, w: serve(r, w, "127.0.0.2"), "127.0.0.2", port, ssl=context)
    with open(config["port_file"], "w") as port_file:
        port_file.write(str(port))
    async with first, second:
        await asyncio.sleep(300)


asyncio.run(main())
