#!/usr/bin/env python3
"""The loop KeyAdmin is made for: draw a key, call the provider, report what happened.

A backend draws an available key with get_random_api_key, calls the provider with it, and
reports the HTTP status (and Retry-After) with report_api_key_result, with the tokens the answer
used and, when the provider said which limit it is about, its window ('minute' or 'day'). The
report is what takes rate-limited keys out for a while, exhausted ones until the provider's
daily reset and revoked ones out for good, so the next draw skips them; it also counts the
request for keyadmin --usage and --metrics.

    pip install "psycopg[binary]"
    DATABASE_URL=postgresql://... python3 examples/backend_loop.py "Say hello"

Settings: DATABASE_URL (or libpq's PG* variables), KEYADMIN_PROVIDER (openai),
OPENAI_BASE_URL (https://api.openai.com/v1), ATTEMPTS (3: how many keys to try), SESSION (a
conversation id: its calls stay on one key, which keeps the provider's prompt cache warm).
Works through PgBouncer or Supavisor in transaction mode: autocommit, no prepared statements.
"""
import datetime
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


def tokens_used(body):
    """The tokens an answer says it used: OpenAI's usage.total_tokens, Anthropic's input plus
    output tokens, Gemini's usageMetadata.totalTokenCount; None when it says nothing."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    usage = answer.get("usage") or {}
    if isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    if isinstance(usage.get("input_tokens"), int):
        return usage["input_tokens"] + (usage.get("output_tokens") or 0)
    metadata = answer.get("usageMetadata") or {}
    return metadata.get("totalTokenCount") if isinstance(metadata.get("totalTokenCount"), int) else None


def duration_seconds(text):
    """OpenAI's reset durations ("20ms", "6m0s", "1h2m3s") as whole seconds, rounded up."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    i = 0
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else text[i]
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    return int(-(-total // 1)) if not number else None


def limit_window(status, headers, body):
    """Which limit an answer is about, as (window, seconds until it resets), or (None, None).

    A 429 from Gemini names its quota (QuotaFailure.violations[].quotaId): a ...PerDay... quota
    is the day, which resets at midnight Pacific time, not after Retry-After. A 2xx that says no
    request is left (OpenAI's x-ratelimit-remaining-requests, Anthropic's
    anthropic-ratelimit-requests-remaining) rests the key until the reset it gives, before it
    meets a 429: a reset more than an hour away is the day's limit."""
    if status == 429:
        try:
            details = json.loads(body).get("error", {}).get("details", [])
        except (ValueError, AttributeError):
            return None, None
        for detail in details if isinstance(details, list) else []:
            for violation in detail.get("violations", []) if isinstance(detail, dict) else []:
                quota = str(violation.get("quotaId", ""))
                if "PerDay" in quota:
                    return "day", None
                if "PerMinute" in quota:
                    return "minute", None
        return None, None
    if not 200 <= status < 300:
        return None, None
    seconds = None
    if headers.get("x-ratelimit-remaining-requests") == "0":
        seconds = duration_seconds(headers.get("x-ratelimit-reset-requests", ""))
    elif headers.get("anthropic-ratelimit-requests-remaining") == "0":
        reset = headers.get("anthropic-ratelimit-requests-reset", "")
        try:
            when = datetime.datetime.fromisoformat(reset.replace("Z", "+00:00"))
            seconds = max(1, int(when.timestamp() - time.time()) + 1)
        except ValueError:
            seconds = None
    if seconds is None:
        return None, None
    return ("day" if seconds > 3600 else "minute"), seconds


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
    # 2xx clears the key's failures; 429 cools it (and its account) down for Retry-After, or
    # until the provider's reset when the day's limit is used up; 401/402/403 disable it; 408
    # and 5xx count as failures. Every report counts the request and its tokens. Never log the key.
    window, reset_seconds = limit_window(status, headers, body)
    db.execute(
        "SELECT report_api_key_result(%s, %s, %s, %s, p_tokens => %s, p_window => %s)",
        [PROVIDER, key, status, reset_seconds or retry_after_seconds(headers.get("Retry-After")),
         tokens_used(body), window],
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
