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
#
#   scripts/setup.sh --stop     stops the local PostgreSQL it started (its data stays)
#   scripts/setup.sh --remove   stops it and deletes its data, its password and the .env it wrote
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# Where the local cluster lives, and who runs it: PostgreSQL refuses to run as root, so under
# root it belongs to the postgres user.
if [ "$(id -u)" -eq 0 ]; then
    local_data=/var/lib/keyadmin/postgres
    local_owner=postgres
    as_owner=(runuser -u postgres --)
else
    local_data="${XDG_DATA_HOME:-$HOME/.local/share}/keyadmin/postgres"
    local_owner=$(id -un)
    as_owner=()
fi

case "${1:-}" in
    --stop|--remove)
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
            rm -rf "$local_data" "$local_data.password"
            if [ -f .env ] && grep -q '^# Written by scripts/setup.sh' .env; then rm -f .env; fi
            say "removed $local_data, its password file and the .env setup.sh wrote"
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
    local bindir port=54329 data=$local_data owner=$local_owner run=("${as_owner[@]}")
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
