#!/usr/bin/env bash
# Measures keyadmin against psql/pgbench on the same server in one run and prints a table:
# case, keyadmin, psql, ratio, target. Nothing here is asserted in tests; times are read here.
#
#   scripts/bench.sh                       # a throw-away server through pg_virtualenv
#   BENCH_DATABASE_URL=... scripts/bench.sh   # your own (a database it may fill and empty)
#
# Options through the environment: BENCH_KEYS (default 100000), BENCH_RUNS (process start-up
# runs per side, default 40), BENCH_SECONDS (pgbench seconds per case, default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

if [ -z "${BENCH_INSIDE:-}" ]; then
    ensure_client_packages
    ensure_packages "command -v pgbench:postgresql-client" "[ -x /usr/bin/time ]:time"
    say "building keyadmin (release, static Swift runtime)"
    swift build -c release --product keyadmin --static-swift-stdlib 2>&1 | grep -E 'error|Compiling|Build' | tail -1
    if [ -n "${BENCH_DATABASE_URL:-}" ]; then
        BENCH_INSIDE=1 exec "$0"
    fi
    ensure_server_packages
    version=$(basename "$(dirname "$(postgres_bin_dir)")")
    say "starting a throw-away PostgreSQL $version with pg_virtualenv"
    BENCH_INSIDE=1 exec pg_virtualenv -t -v "$version" "$0"
fi

keys=${BENCH_KEYS:-100000}
runs=${BENCH_RUNS:-40}
seconds=${BENCH_SECONDS:-5}
bin=$PWD/.build/release/keyadmin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# psql as users run it: the `psql` on PATH (on Debian, the pg_wrapper script that picks the
# cluster's version), and the psql binary itself, which starts faster.
psql_path=$(command -v psql)
psql_binary=$( { pg_config --bindir 2>/dev/null || dirname "$(postgres_bin_dir)"/bin; } | head -1)/psql
[ -x "$psql_binary" ] || psql_binary=$psql_path

if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    url=$BENCH_DATABASE_URL
else
    psql -X -q -c "CREATE DATABASE keyadmin_bench" >/dev/null
    url="dbname=keyadmin_bench"
fi
sql() { "$psql_binary" -X -q -v ON_ERROR_STOP=1 -At "$url" "$@"; }

"$bin" --database-url "$url" --migrate >/dev/null
sql -c "DELETE FROM providers WHERE provider_name LIKE 'bench%'"

# paired_ms RUNS SETUP A B: runs the functions A and B alternately RUNS times each (SETUP, untimed,
# before every run), so that drift in the machine's load hits both sides alike; prints the
# median wall time of each, in milliseconds.
paired_ms() {
    local runs=$1 setup=$2 a=$3 b=$4 i start end
    : > "$work/a.times"; : > "$work/b.times"
    for ((i = 0; i < runs; i++)); do
        $setup; start=$(date +%s%N); $a >/dev/null; end=$(date +%s%N); echo $(( (end - start) / 1000 )) >> "$work/a.times"
        $setup; start=$(date +%s%N); $b >/dev/null; end=$(date +%s%N); echo $(( (end - start) / 1000 )) >> "$work/b.times"
    done
    echo "$(median "$work/a.times") $(median "$work/b.times")"
}
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000 }'; }
nothing() { :; }
peak_rss_mb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

rows=()
row() { rows+=("$(printf '%-52s %14s %14s %7s  %s' "$@")"); }

# --- Data: a provider with $keys keys, 10% deleted (gaps in the numbers) ---------------------
say "loading $keys keys into provider bench (then deleting every tenth: gaps)"
seq 1 "$keys" | awk '{ printf "sk-bench-%08d-0123456789abcdef0123456789abcdef\n", $1 }' > "$work/keys.txt"
"$bin" --database-url "$url" --add-provider bench >/dev/null
"$bin" --database-url "$url" --add-bulk bench --file "$work/keys.txt" >/dev/null
sql -c "DELETE FROM provider_api_keys k USING providers p WHERE p.id = k.provider_id AND p.provider_name = 'bench' AND k.key_number % 10 = 0"
sql -c "VACUUM ANALYZE provider_api_keys"

# --- 1. Key selection inside the server (pgbench, one client) ---------------------------------
say "pgbench: get_random_api_key against the exact get_api_key lookup ($seconds s each)"
echo "\\set n random(1, $keys)
SELECT get_api_key('bench', :n);" > "$work/exact.sql"
echo "SELECT get_random_api_key('bench');" > "$work/random.sql"
echo "SELECT k.api_key FROM provider_api_keys k JOIN providers p ON p.id = k.provider_id WHERE p.provider_name = 'bench' ORDER BY random() LIMIT 1;" > "$work/order_by_random.sql"
tps() { pgbench -n -c 1 -T "$1" -f "$2" "$url" 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }'; }
exact_tps=$(tps "$seconds" "$work/exact.sql")
random_tps=$(tps "$seconds" "$work/random.sql")
naive_tps=$(tps 2 "$work/order_by_random.sql")
row "get_random_api_key calls/s vs get_api_key" "$random_tps" "$exact_tps" "$(ratio "$random_tps" "$exact_tps")" ">= 0.50 (higher is better)"
row "  (ORDER BY random() LIMIT 1, for reference)" "$naive_tps" "$exact_tps" "$(ratio "$naive_tps" "$exact_tps")" ""

# --- 2. A whole --get-key process against psql -Atc -----------------------------------------
say "process start-up: keyadmin --get-key against psql -Atc ($runs runs each)"
number=$(sql -c "SELECT min(k.key_number) FROM provider_api_keys k JOIN providers p ON p.id = k.provider_id WHERE p.provider_name = 'bench'")
keyadmin_get() { "$bin" --database-url "$url" --get-key bench "$number"; }
psql_path_get() { "$psql_path" -X "$url" -Atc "select get_api_key('bench', $number)"; }
psql_binary_get() { "$psql_binary" -X "$url" -Atc "select get_api_key('bench', $number)"; }
read -r ka_ms path_ms < <(paired_ms "$runs" nothing keyadmin_get psql_path_get)
read -r ka2_ms binary_ms < <(paired_ms "$runs" nothing keyadmin_get psql_binary_get)
row "--get-key, ms (vs psql on PATH: $psql_path)" "$ka_ms" "$path_ms" "$(ratio "$ka_ms" "$path_ms")" "<= 0.80"
row "--get-key, ms (vs the psql binary itself)" "$ka2_ms" "$binary_ms" "$(ratio "$ka2_ms" "$binary_ms")" "<= 1.00"

# --- 3. Bulk load against \copy ----------------------------------------------------------------
say "bulk load of $keys keys: keyadmin --add-bulk against psql \\copy"
seq 1 "$keys" | awk '{ printf "sk-load-%08d-0123456789abcdef0123456789abcdef\n", $1 }' > "$work/load.txt"
awk '{ printf "%d\t%s\n", NR, $0 }' "$work/load.txt" > "$work/load.tsv"
# Untimed before every run: a fresh, empty provider, and the rows \copy reads with its id.
reset_load() {
    sql -c "DELETE FROM providers WHERE provider_name = 'benchload'"
    # Every run starts from the same state: no dead rows from the last one, no checkpoint due.
    sql -c "VACUUM provider_api_keys"
    sql -c "CHECKPOINT" 2>/dev/null || true
    "$bin" --database-url "$url" --add-provider benchload >/dev/null
    local id; id=$(sql -c "SELECT id FROM providers WHERE provider_name = 'benchload'")
    awk -v id="$id" '{ printf "%s\t%s\n", id, $0 }' "$work/load.tsv" > "$work/load_with_id.tsv"
}
keyadmin_load() { "$bin" --database-url "$url" --add-bulk benchload --file "$work/load.txt"; }
copy_load() {
    "$psql_binary" -X -q -v ON_ERROR_STOP=1 "$url" \
        -c "\\copy provider_api_keys (provider_id, key_number, api_key) FROM '$work/load_with_id.tsv'"
}
read -r bulk_ms copy_ms < <(paired_ms 5 reset_load keyadmin_load copy_load)
row "--add-bulk $keys keys, ms (vs \\copy)" "$bulk_ms" "$copy_ms" "$(ratio "$bulk_ms" "$copy_ms")" "<= 1.50"

say "bulk load memory: $keys keys against 10x as many"
seq 1 $((keys * 10)) | awk '{ printf "sk-big-%09d-0123456789abcdef0123456789abcdef\n", $1 }' > "$work/big.txt"
reset_load; rss_small=$(peak_rss_mb "$bin" --database-url "$url" --add-bulk benchload --file "$work/load.txt")
reset_load; rss_big=$(peak_rss_mb "$bin" --database-url "$url" --add-bulk benchload --file "$work/big.txt")
row "--add-bulk peak memory, MB: $((keys * 10)) keys (vs $keys)" "$rss_big" "$rss_small" "$(ratio "$rss_big" "$rss_small")" "flat (about 1.0)"
# While the big provider is there: listing ten times the keys must not take ten times the memory.
rss_list_big=$(peak_rss_mb "$bin" --database-url "$url" --list --provider benchload)
sql -c "DELETE FROM providers WHERE provider_name = 'benchload'"

# --- 4. Listing against the same SELECT in psql -------------------------------------------------
say "--list --provider bench ($keys keys) against psql running the same SELECT"
list_query="SELECT p.provider_name, k.key_number, k.api_key, to_char(k.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at FROM provider_api_keys AS k JOIN providers AS p ON p.id = k.provider_id WHERE p.provider_name = 'bench' ORDER BY p.provider_name, k.key_number"
keyadmin_list() { "$bin" --database-url "$url" --list --provider bench; }
psql_list() { "$psql_binary" -X "$url" -c "$list_query"; }
read -r list_ms psql_list_ms < <(paired_ms 5 nothing keyadmin_list psql_list)
row "--list --provider bench, ms (vs psql SELECT)" "$list_ms" "$psql_list_ms" "$(ratio "$list_ms" "$psql_list_ms")" "<= 1.50"
rss_list=$(peak_rss_mb "$bin" --database-url "$url" --list --provider bench)
rss_psql=$(peak_rss_mb "$psql_binary" -X "$url" -c "$list_query")
row "--list peak memory, MB (vs psql)" "$rss_list" "$rss_psql" "$(ratio "$rss_list" "$rss_psql")" "flat (streams)"
row "--list peak memory, MB: $((keys * 10)) keys (vs $keys)" "$rss_list_big" "$rss_list" "$(ratio "$rss_list_big" "$rss_list")" "flat (about 1.0)"

echo
printf '%-52s %14s %14s %7s  %s\n' "case" "keyadmin" "psql/baseline" "ratio" "target"
printf '%s\n' "${rows[@]}"
echo
echo "server: $(sql -c 'SHOW server_version'); $(nproc) cores; keys: $keys; $(date -u +%Y-%m-%dT%H:%MZ)"
