"""A stand-in for a provider's chat API, on loopback only, answering by the key it is given.

    python3 stand_in_provider.py ANSWERS_JSON SEEN_FILE PORT_FILE

ANSWERS_JSON maps a key to [status, retry_after or null]; a key not in it gets 500. Every
request's key (from the Authorization header) is appended to SEEN_FILE, one per line; the port
it listens on is written to PORT_FILE. It stops after 120 seconds in any case.
"""
import http.server
import json
import sys
import threading

answers = json.loads(sys.argv[1])
seen_file, port_file = sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with open(seen_file, "a") as seen:
            seen.write(key + "\n")
        status, retry_after = answers.get(key, [500, None])
        body = json.dumps({"choices": [{"message": {"content": "hello"}}]} if status == 200 else {"error": status})
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *arguments):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file, "w") as port:
    port.write(str(server.server_address[1]))
threading.Timer(120, server.shutdown).start()
server.serve_forever()
