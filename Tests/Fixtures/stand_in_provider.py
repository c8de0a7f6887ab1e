"""A stand-in for a provider's chat API, on loopback only, answering by the key it is given.

    python3 stand_in_provider.py ANSWERS_JSON SEEN_FILE PORT_FILE

ANSWERS_JSON maps a key to [status, retry_after or null, style or null]; a key not in it gets
500. A 200 says it used 42 tokens. Styles, as providers say a limit is used up: 1, Gemini's
429 for a per-day quota (QuotaFailure with a ...PerDay... quotaId); 2, OpenAI's 200 with
x-ratelimit-remaining-requests 0, resetting in 30 s; 3, Anthropic's 200 with
anthropic-ratelimit-requests-remaining 0, resetting in 45 s (its usage in input and output
tokens). Every
request's key (from the Authorization header) is appended to SEEN_FILE, one per line; the port
it listens on is written to PORT_FILE. It stops after 120 seconds in any case.
"""
import http.server
import json
import sys
import threading
import time

answers = json.loads(sys.argv[1])
seen_file, port_file = sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with open(seen_file, "a") as seen:
            seen.write(key + "\n")
        status, retry_after, style = (answers.get(key, [500, None]) + [None])[:3]
        usage = {"input_tokens": 30, "output_tokens": 12} if style == 3 else {"total_tokens": 42}
        answer = {"choices": [{"message": {"content": "hello"}}], "usage": usage} if status == 200 else {"error": status}
        if style == 1:
            answer = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}
        body = json.dumps(answer)
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if style == 2:
            self.send_header("x-ratelimit-remaining-requests", "0")
            self.send_header("x-ratelimit-reset-requests", "29s800ms")
        if style == 3:
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 45))
            self.send_header("anthropic-ratelimit-requests-remaining", "0")
            self.send_header("anthropic-ratelimit-requests-reset", reset)
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
