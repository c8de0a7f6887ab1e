#!/usr/bin/env bash
# Sets up keyadmin on this machine and runs it:
#   0. refuses at once when the environment names another database than the one it would migrate,
#   1. installs what is missing (libpq-dev, libcurl4-openssl-dev for --check, pkg-config, psql; a PostgreSQL server if one is needed),
#   2. builds a release binary,
#   3. if no database is configured (--database-url aside: WORKER_1_DATABASE_URL or DATABASE_URL in the
#      environment or in .env, or PGHOST/PGDATABASE/PGSERVICE), starts a local PostgreSQL on port
#      54329 and writes its DATABASE_URL to .env (mode 600),
#   4. applies the migrations and sums up the database: providers, keys and their states.
# Run it again at any time: every step notices what is already done.
#
# Settings, for a machine with needs of its own: KEYADMIN_DATA_DIR (where the local cluster lives),
# KEYADMIN_LOCAL_PORT (its port, 54329), KEYADMIN_BIN (an existing keyadmin binary: no build).
# Once .env names the cluster setup.sh made, later runs (--stop and --remove too) use that one;
# settings that name another are refused.
#
#   scripts/setup.sh --stop     stops the local PostgreSQL it started (its data stays)
#   scripts/setup.sh --remove   stops it and deletes its data and password, and its line in .env; it
#                               refuses while another checkout's .env still uses that database
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# Where the local cluster lives, and who runs it: PostgreSQL refuses to run as root, so under
# root it belongs to the postgres user.
if [ "$(id -u)" -eq 0 ]; then
    local_data=${KEYADMIN_DATA_DIR:-/var/lib/keyadmin/postgres}
    local_owner=postgres
    as_owner=(runuser -u postgres --)
else
    local_data=${KEYADMIN_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/keyadmin/postgres}
    local_owner=$(id -un)
    as_owner=()
fi
local_port=${KEYADMIN_LOCAL_PORT:-54329}

# A checkout set up before keeps its cluster: .env names it (setup.sh's comment line, and the
# port in the URL after it). Settings that name another one are refused rather than followed:
# following them would write a new cluster into .env and leave the one with the keys running,
# unreferenced.
env_marker='# Written by scripts/setup.sh: the local PostgreSQL in '
env_line=$( { [ -f .env ] && grep -m1 -F "$env_marker" .env; } || true)
if [ -n "$env_line" ]; then
    env_data=${env_line#"$env_marker"}
    env_port=$(grep -A1 -F "$env_line" .env | sed -nE 's#^DATABASE_URL=.*@localhost:([0-9]+)/.*#\1#p' | head -1)
    if [ -n "${KEYADMIN_DATA_DIR:-}" ] && [ "$KEYADMIN_DATA_DIR" != "$env_data" ]; then
        die "this checkout's .env uses the local PostgreSQL in $env_data, not KEYADMIN_DATA_DIR ($KEYADMIN_DATA_DIR); unset KEYADMIN_DATA_DIR to keep using it, or run scripts/setup.sh --remove first to start again elsewhere"
    fi
    if [ -n "${KEYADMIN_LOCAL_PORT:-}" ] && [ -n "$env_port" ] && [ "$KEYADMIN_LOCAL_PORT" != "$env_port" ]; then
        die "this checkout's .env uses the local PostgreSQL on port $env_port, not KEYADMIN_LOCAL_PORT ($KEYADMIN_LOCAL_PORT); unset KEYADMIN_LOCAL_PORT to keep using it, or run scripts/setup.sh --remove first"
    fi
    local_data=$env_data
    [ -n "$env_port" ] && local_port=$env_port
fi

# Each checkout that set up the local database is listed beside it, one path a line.
checkouts_file="$local_data.checkouts"
other_checkouts() {
    [ -f "$checkouts_file" ] || return 0
    local path
    while IFS= read -r path; do
        [ "$path" = "$PWD" ] && continue
        # Still using it: its .env holds the line setup.sh wrote for this cluster.
        if [ -f "$path/.env" ] && grep -qF "# Written by scripts/setup.sh: the local PostgreSQL in $local_data" "$path/.env"; then
            printf '%s ' "$path"
        fi
    done < "$checkouts_file"
}

# .env may hold other settings of the user's: setup.sh adds, replaces and removes only its own
# two lines (its comment and the DATABASE_URL after it).
remove_our_env_lines() {
    [ -f .env ] || return 0
    local kept
    kept=$(awk '/^# Written by scripts\/setup.sh/ { skip = 1; next } skip && /^DATABASE_URL=/ { skip = 0; next } { skip = 0; print }' .env)
    if [ -z "$(printf '%s' "$kept" | tr -d '[:space:]')" ]; then
        rm -f .env
    else
        (umask 077; printf '%s\n' "$kept" > .env.new && mv .env.new .env)
    fi
}

case "${1:-}" in
    --stop|--remove)
        # The cluster is this machine's: another clone may have its DATABASE_URL in .env, and
        # keys in it. Removing it from here would delete them unseen; stopping it first would
        # take that checkout's database down before refusing. So: refuse before anything.
        if [ "$1" = --remove ]; then
            others=$(other_checkouts)
            if [ -n "$others" ]; then
                die "another checkout uses the local PostgreSQL in $local_data: $others; run scripts/setup.sh --remove there first (its keys are in it)"
            fi
        fi
        if [ -s "$local_data/PG_VERSION" ]; then
            bindir=$(postgres_bin_dir)
            if "${as_owner[@]}" "$bindir/pg_ctl" -D "$local_data" status >/dev/null 2>&1; then
                "${as_owner[@]}" "$bindir/pg_ctl" -D "$local_data" -w stop -m fast >/dev/null
                say "stopped the local PostgreSQL in $local_data"
            else
                say "the local PostgreSQL in $local_data is not running"
            fi
        else
            say "there is no local PostgreSQL in $local_data"
        fi
        if [ "$1" = --remove ]; then
            rm -rf "$local_data" "$local_data.password" "$local_data.checkouts"
            remove_our_env_lines
            say "removed $local_data, its password file and setup.sh's lines in .env"
        fi
        exit 0 ;;
    "") ;;
    *) die "unknown argument ${1:0:20}; scripts/setup.sh takes nothing, --stop or --remove" ;;
esac

# The local database is ours when .env says setup.sh wrote it, or when nothing else is configured.
uses_local_database() {
    { [ -f .env ] && grep -q '^# Written by scripts/setup.sh' .env; } || ! database_configured
}

database_configured() {
    [ -n "${WORKER_1_DATABASE_URL:-}${DATABASE_URL:-}${PGHOST:-}${PGDATABASE:-}${PGSERVICE:-}" ] && return 0
    [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?(WORKER_1_DATABASE_URL|DATABASE_URL)[[:space:]]*=' .env
}

# A connection string without its password, for messages.
without_password() { printf '%s' "$1" | sed -E 's#(://[^:@/]*):[^@]*@#\1@#; s#password=[^ ]*#password=...#'; }

# keyadmin reads WORKER_1_DATABASE_URL and DATABASE_URL from the environment before .env: with
# either set, the migration would go to that database, not to the local one set up here.
# Refuse before building anything, and say which database the environment names.
if uses_local_database; then
    for variable in WORKER_1_DATABASE_URL DATABASE_URL; do
        value=${!variable:-}
        # The local database exactly: host, port and database name (a stale URL to another
        # database on the same port is another database).
        if [ -n "$value" ] && ! printf '%s' "$value" | grep -Eq "@localhost:$local_port/postgres([?]|\$)"; then
            die "$variable in the environment points to $(without_password "$value"), but setup.sh sets up and migrates the local database on localhost:$local_port; unset $variable to use the local one, or remove .env and run setup.sh again to use $variable"
        fi
    done
fi

ensure_client_packages
if [ -n "${KEYADMIN_BIN:-}" ]; then
    bin=$KEYADMIN_BIN
    [ -x "$bin" ] || die "KEYADMIN_BIN is not an executable file"
else
    say "building keyadmin (release)"
    # Package.swift links the Swift runtime in: the binary runs on machines without Swift.
    swift build -c release --product keyadmin 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|mktemp|^/.*swift_static' || true
    bin=.build/release/keyadmin
    [ -x "$bin" ] || die "the build did not produce $bin"
fi

start_local_database() {
    ensure_server_packages
    local bindir port=$local_port data=$local_data owner=$local_owner run=("${as_owner[@]}")
    bindir=$(postgres_bin_dir)
    mkdir -p "$(dirname "$data")"
    local password_file="$data.password"
    if [ ! -s "$data/PG_VERSION" ]; then
        say "creating a local PostgreSQL cluster in $data (port $port)"
        mkdir -p "$data"
        chown "$owner" "$data"
        chmod 700 "$data"
        (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$password_file")
        chown "$owner" "$password_file"
        "${run[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$password_file" >/dev/null
    fi
    if ! "${run[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        say "starting the local PostgreSQL on localhost:$port"
        # The server must hold none of this script's descriptors: `setup.sh | tee` would wait
        # for it to close the pipe, that is, forever.
        if ! "${run[@]}" "$bindir/pg_ctl" -D "$data" -w -l "$data/server.log" \
            -o "-p $port -c listen_addresses=localhost -c unix_socket_directories=$data" start \
            </dev/null >/dev/null 2>"$data.start-errors"; then
            cat "$data.start-errors" >&2
            die "the local PostgreSQL did not start; see $data/server.log"
        fi
        rm -f "$data.start-errors"
    fi
    url="postgresql://postgres:$(cat "$password_file")@localhost:$port/postgres"
    local line="# Written by scripts/setup.sh: the local PostgreSQL in $data"
    if ! { [ -f .env ] && grep -qxF "$line" .env && grep -qxF "DATABASE_URL=$url" .env; }; then
        remove_our_env_lines
        (umask 077; touch .env; chmod 600 .env; printf '%s\nDATABASE_URL=%s\n' "$line" "$url" >> .env)
        say "wrote DATABASE_URL to .env (readable only by you; other lines left as they were)"
    fi
    grep -qxF "$PWD" "$checkouts_file" 2>/dev/null || printf '%s\n' "$PWD" >> "$checkouts_file"
}

# The database keyadmin is run against below: the local one (named explicitly, so nothing in
# the environment can redirect it), or whatever is configured.
target=()
if uses_local_database; then
    start_local_database   # creates it, or makes sure it is running (after a reboot, say)
    target=(--database-url "$url")
else
    say "using the database already configured (keyadmin names it below)"
fi

say "applying migrations"
"$bin" "${target[@]}" --migrate
say "what the database holds"
"$bin" "${target[@]}" --list --summary
say "keyadmin is ready: $bin (copy it anywhere; the migrations are built in)"
say "next: $bin --add-provider openai && $bin --add-bulk openai --file ~/openai-keys.txt (keep key files out of the repository)"
