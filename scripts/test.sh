#!/usr/bin/env bash
# Runs every test against a real, throw-away PostgreSQL:
#   TEST_DATABASE_URL if you give one (a superuser connection: tests create databases and roles);
#   else Docker Compose (docker-compose.yml) when a Docker engine answers;
#   else the system's PostgreSQL binaries through Debian's pg_virtualenv, which runs the server as
#   the postgres user even when we are root, and removes the cluster afterwards.
# -t keeps the cluster in a temporary directory, so a run that was killed leaves nothing behind
# that would stop the next one. Extra arguments go to `swift test` (for example: --filter BulkLoad).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_client_packages
want_packages "command -v pgbouncer:pgbouncer"
say "checking the format (.swift-format)"
swift format lint --strict -r Sources Tests Package.swift scripts/floor \
    || die "swift format lint found the lines above; swift format format -i -r Sources Tests fixes most"
say "building the package and its tests"
swift build --build-tests

# Tests that stop or freeze a server of their own need the server binaries, whatever the
# shared server is.
want_packages '[ -n "$(postgres_bin_dir)" ]:postgresql'
# pgTAP (supabase/tests/, run with pg_prove) for the server's major version; zsh and fish for
# the completion scripts.
pg_major=$(basename "$(dirname "$(postgres_bin_dir)")" 2>/dev/null || true)
if [ -n "$pg_major" ]; then
    want_packages "[ -f /usr/share/postgresql/$pg_major/extension/pgtap.control ]:postgresql-$pg_major-pgtap" \
        "command -v pg_prove:libtap-parser-sourcehandler-pgtap-perl"
fi
want_packages "command -v zsh:zsh" "command -v fish:fish"
want_python_module psycopg "psycopg[binary]"

if [ -n "${TEST_DATABASE_URL:-}" ]; then
    say "testing against TEST_DATABASE_URL"
    exec swift test --skip-build "$@"
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    say "starting PostgreSQL with docker compose"
    docker compose up -d --wait postgres
    trap 'docker compose down -v >/dev/null 2>&1 || true' EXIT
    export TEST_DATABASE_URL="postgresql://postgres:postgres@localhost:54330/postgres"
    swift test --skip-build "$@"
    exit
fi

ensure_server_packages
version=$(basename "$(dirname "$(postgres_bin_dir)")")
# The throw-away cluster (and the tests' temporary files) in memory when there is room: every
# test clones a database, and on this project's 2-core VM a clone took 0.4-0.5 s on disk and
# 15-35 ms on tmpfs (the whole run: 164 s -> 146 s of the same tests). A small /dev/shm (a
# container's 64 MB) is left alone. A directory of this run's own, removed at the end: swift
# test leaves TemporaryDirectory.* folders in TMPDIR, and /dev/shm is the machine's.
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt 1048576 ] 2>/dev/null; then
    TMPDIR=$(mktemp -d /dev/shm/keyadmin-tests.XXXXXX)
    export TMPDIR
    chmod 755 "$TMPDIR"  # the cluster's owner (postgres, when root runs this) must reach it
    trap 'rm -rf "$TMPDIR"' EXIT
    say "starting a throw-away PostgreSQL with pg_virtualenv, in memory ($TMPDIR)"
else
    say "starting a throw-away PostgreSQL with pg_virtualenv (no Docker engine here)"
fi
pg_virtualenv -t -v "$version" swift test --skip-build "$@"
