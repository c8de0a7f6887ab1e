#!/usr/bin/env python3
"""The loop KeyAdmin is made for: draw a key, call the provider, report what happened.

A backend draws an available key with get_random_api_key, calls the provider with it, and
reports the HTTP status (and Retry-After) with report_api_key_result. The report is what takes
rate-limited keys out for a while and revoked keys out for good, so the next draw skips them.

    pip install "psycopg[binary]"
    DATABASE_URL=postgresql://... python3 examples/backend_loop.py "Say hello"

Settings: DATABASE_URL (or libpq's PG* variables), KEYADMIN_PROVIDER (openai),
OPENAI_BASE_URL (https://api.openai.com/v1), ATTEMPTS (3: how many keys to try), SESSION (a
conversation id: its calls stay on one key, which keeps the provider's prompt cache warm).
Works through PgBouncer or Supavisor in transaction mode: autocommit, no prepared statements.
"""
import email.utils
import json
import os
import sys
import time
import urllib.error
import urllib.request

import psycopg

PROVIDER = os.environ.get("KEYADMIN_PROVIDER", "openai")
BASE_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")


def retry_after_seconds(value):
    """Retry-After as whole seconds: a number of seconds, or an HTTP date; None if neither."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time()))


def call_provider(key, prompt):
    """One chat completion with `key`: the status, the headers and the body, whatever the status."""
    request = urllib.request.Request(
        f"{BASE_URL}/chat/completions",
        data=json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def draw_key(db, session, failed):
    """A key for this call: the conversation's own key (sticky) when there is a session, else
    a random one; both draw from the lowest tier that has an available key, by weight. A key
    that already failed this request is drawn around: a 5xx or 408 leaves it in the pool (the
    third in a row cools it), so the same draw could give it again. 32 draws: with half the
    pool's weight failed, one request in 2**32 gives up while a good key is left."""
    if session and not failed:
        key = db.execute("SELECT get_sticky_api_key(%s, %s)", [PROVIDER, session]).fetchone()[0]
        if key is not None:
            return key
    for _ in range(32):
        key = db.execute("SELECT get_random_api_key(%s)", [PROVIDER]).fetchone()[0]
        if key not in failed:
            return key
    return None


def chat(db, prompt, session=None, failed=()):
    """Draw, call, report. Returns (status, body, key), or None when every key drawn is one that
    failed this request; raises when the pool has no usable key at all."""
    key = draw_key(db, session, failed)
    if key is None and failed:
        return None
    if key is None:
        raise RuntimeError(f"no usable {PROVIDER} key: see keyadmin --list --provider {PROVIDER}")
    status, headers, body = call_provider(key, prompt)
    # 2xx clears the key's failures; 429 cools it down for Retry-After; 401/402/403 disable it;
    # 408 and 5xx count as failures. Never log the key.
    db.execute(
        "SELECT report_api_key_result(%s, %s, %s, %s)",
        [PROVIDER, key, status, retry_after_seconds(headers.get("Retry-After"))],
    )
    return status, body, key


def main():
    prompt = sys.argv[1] if len(sys.argv) > 1 else "Say hello"
    attempts = int(os.environ.get("ATTEMPTS", "3"))
    session = os.environ.get("SESSION")
    failed = set()
    last_status = None
    with psycopg.connect(os.environ.get("DATABASE_URL", ""), autocommit=True) as db:
        for _ in range(attempts):
            try:
                answer = chat(db, prompt, session, failed)
            except RuntimeError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            if answer is None:
                break  # no key left that has not failed this request
            status, body, key = answer
            if 200 <= status < 300:
                print(body.decode(errors="replace"))
                return 0
            # Never again in this request, whatever the report did with it (a 429 or a 401
            # took it out of the pool; a 5xx may leave it in for two more failures).
            failed.add(key)
            last_status = status
            print(f"{PROVIDER} answered {status}; trying another key", file=sys.stderr)
    print(f"error: no {PROVIDER} key answered ({len(failed)} tried, the last with {last_status}); "
          f"see keyadmin --list --provider {PROVIDER}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
