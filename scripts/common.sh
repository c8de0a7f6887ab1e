# Shared by the scripts in this folder: finding and installing what they need.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages COMMAND_OR_CHECK:PACKAGE...
# Each argument is "check:package": a shell test that succeeds when the thing is present, and
# the Debian package that provides it. Missing packages are installed with apt-get when we are
# root (saying so); otherwise the script stops and says what to install.
ensure_packages() {
    local missing=() item check package
    for item in "$@"; do
        check=${item%%:*}
        package=${item#*:}
        if ! eval "$check" >/dev/null 2>&1; then missing+=("$package"); fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "installing missing packages with apt-get: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        die "missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}, or brew install libpq postgresql) and run again"
    fi
}

# want_packages CHECK:PACKAGE...: like ensure_packages, but what cannot be installed is only
# reported (for tools some tests use, such as pgbouncer).
want_packages() {
    ( ensure_packages "$@" ) || say "warning: could not install ${*#*:}; the tests that need it are skipped"
}

ensure_client_packages() {
    command -v swift >/dev/null || die "swift is not on PATH; install a Swift 6 toolchain from https://swift.org/install"
    ensure_packages \
        "command -v pkg-config:pkg-config" \
        "pkg-config --exists libpq:libpq-dev" \
        "pkg-config --exists libcurl:libcurl4-openssl-dev" \
        "command -v psql:postgresql-client"
}

# The directory holding initdb, pg_ctl and postgres, or nothing.
postgres_bin_dir() {
    local dir
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
}

ensure_server_packages() {
    ensure_packages '[ -n "$(postgres_bin_dir)" ]:postgresql' "command -v pg_virtualenv:postgresql-common"
}

# want_python_module MODULE PIP_SPEC: for the test that runs examples/backend_loop.py. Installed
# with pip when missing (saying so); if it cannot be, that one test is skipped.
want_python_module() {
    command -v python3 >/dev/null || { say "warning: no python3; the backend example's test is skipped"; return 0; }
    python3 -c "import $1" 2>/dev/null && return 0
    say "installing the Python package $2 with pip (for the backend example's test)"
    python3 -m pip install -q --disable-pip-version-check "$2" >/dev/null 2>&1 \
        || say "warning: could not install $2; the backend example's test is skipped"
}
