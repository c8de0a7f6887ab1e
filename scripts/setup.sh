#!/usr/bin/env bash
# Sets up keyadmin on this machine and runs it:
#   0. refuses at once when the environment names another database than the one it would migrate,
#   1. installs what is missing (libpq-dev, pkg-config, psql; a PostgreSQL server if one is needed),
#   2. builds a release binary,
#   3. if no database is configured (--database-url aside: WORKER_1_DATABASE_URL or DATABASE_URL in the
#      environment or in .env, or PGHOST/PGDATABASE/PGSERVICE), starts a local PostgreSQL on port
#      54329 and writes its DATABASE_URL to .env (mode 600),
#   4. applies the migrations and shows --list.
# Run it again at any time: every step notices what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

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
        if [ -n "$value" ] && ! printf '%s' "$value" | grep -q '@localhost:54329/'; then
            die "$variable in the environment points to $(without_password "$value"), but setup.sh sets up and migrates the local database on localhost:54329; unset $variable to use the local one, or remove .env and run setup.sh again to use $variable"
        fi
    done
fi

ensure_client_packages
say "building keyadmin (release)"
# --static-swift-stdlib: the binary runs on machines without Swift and starts faster.
swift build -c release --product keyadmin --static-swift-stdlib 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|mktemp|^/.*swift_static' || true
bin=.build/release/keyadmin
[ -x "$bin" ] || die "the build did not produce $bin"

start_local_database() {
    ensure_server_packages
    local bindir port=54329 data owner run=()
    bindir=$(postgres_bin_dir)
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        data=/var/lib/keyadmin/postgres
        owner=postgres
        run=(runuser -u postgres --)
        mkdir -p "$(dirname "$data")"
    else
        data="${XDG_DATA_HOME:-$HOME/.local/share}/keyadmin/postgres"
        owner=$(id -un)
    fi
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
        "${run[@]}" "$bindir/pg_ctl" -D "$data" -w -l "$data/server.log" \
            -o "-p $port -c listen_addresses=localhost -c unix_socket_directories=$data" start >/dev/null
    fi
    url="postgresql://postgres:$(cat "$password_file")@localhost:$port/postgres"
    (umask 077; printf '# Written by scripts/setup.sh: the local PostgreSQL in %s\nDATABASE_URL=%s\n' "$data" "$url" > .env)
    say "wrote DATABASE_URL to .env (readable only by you)"
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
say "keys in the database"
"$bin" "${target[@]}" --list
say "keyadmin is ready: $bin (copy it anywhere; the migrations are built in)"
say "next: $bin --add-provider openai && $bin --add-bulk openai --file keys.txt"
