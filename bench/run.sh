#!/usr/bin/env bash
# Side-by-side benchmark of tokenevents against what a user would do by hand.
# Not part of `go test`: timings never decide a test.
#
#   bench/run.sh [ROWS]        default 1000000; the reference run uses 5000000
#   bench/run.sh --growth [SIZE...]   cost per row as the database grows (bench/growth.sh)
#
# With a Citus cluster at $BENCH_CITUS_DSN (the coordinator's postgres
# database, workers added; ../shared/citus/cluster.sh start makes one) the
# Citus steps run too, each against its single-server counterpart, and
# print how the server work split over the nodes (CPU seconds of each
# node's PostgreSQL processes during the step, read from /proc: the
# cluster must run on this machine).
#
# Each measured step gets a fresh database on the server at $BENCH_DSN
# (the embedded steps a fresh SQLite file in bench/out)
# (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
# Prints, per step, wall and client CPU seconds, peak RSS, rows per second,
# what the server spent meanwhile (its CPU seconds, WAL, pages written and
# read, temporary files, the machine's I/O wait: bench/serverstats.sh) and
# the ratio to its anchor; writes the same as JSON to bench/out/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/serverstats.sh
if [ "${1:-}" = --growth ]; then shift; exec bench/growth.sh "$@"; fi
N=${1:-1000000}
OUT=bench/out
ADMIN=${BENCH_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
mkdir -p "$OUT"

dsn_for() { echo "${ADMIN/\/postgres\?//$1?}"; }
fresh_db() {
  psql "$ADMIN" -qAtc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
  psql "$ADMIN" -qAtc "CREATE DATABASE $1" >/dev/null
}

CITUS=${BENCH_CITUS_DSN:-}
# fresh_citus_db NAME: a new database on every node of the cluster, with
# the extension, the workers added to the coordinator's metadata.
citus_nodes() { psql "$CITUS" -qAtc "SELECT node_name || ' ' || node_port FROM citus_get_active_worker_nodes() ORDER BY node_port"; }
citus_at() { echo "postgres://${BENCH_CITUS_USER:-postgres}@$1:$2/$3?sslmode=disable"; } # citus_at HOST PORT DB
fresh_citus_db() {
  local chost cport
  chost=$(psql "$CITUS" -qAtc "SELECT inet_server_addr()"); cport=$(psql "$CITUS" -qAtc "SHOW port")
  { echo "$chost $cport"; citus_nodes; } | while read -r h p; do
    psql "$(citus_at "$h" "$p" postgres)" -qAtc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
    psql "$(citus_at "$h" "$p" postgres)" -qAtc "CREATE DATABASE $1" >/dev/null 2>&1
    psql "$(citus_at "$h" "$p" "$1")" -qAtc "CREATE EXTENSION citus" >/dev/null
  done
  psql "$(citus_at "$chost" "$cport" "$1")" -qAtc "SELECT citus_set_coordinator_host('$chost', $cport)" >/dev/null
  citus_nodes | while read -r h p; do psql "$(citus_at "$chost" "$cport" "$1")" -qAtc "SELECT citus_add_node('$h', $p)" >/dev/null; done
  echo "$(citus_at "$chost" "$cport" "$1")"
}
# node_cpu PORT: CPU seconds so far of the Citus node on PORT.
node_cpu() { server_cpu "$(citus_at 127.0.0.1 "$1" postgres)"; }
# node_wal PORT: the WAL position of the Citus node on PORT, in bytes.
node_wal() { psql "$(citus_at 127.0.0.1 "$1" postgres)" -qAtc "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }

echo "== building"
for p in import reconcile genexport; do go build -o "$OUT/$p" "./cmd/$p"; done
go build -o "$OUT/prehash" ./bench/prehash

echo "== generating $N-row exports"
"$OUT/genexport" --rows "$N" --seed 1 --phones=true -o "$OUT/export-phones.csv"
"$OUT/genexport" --rows "$N" --seed 2 --phones=false -o "$OUT/export-email.csv"
"$OUT/genexport" --rows $((N / 100)) --seed 3 --phones=true --people $((N / 2)) -o "$OUT/export-1pct.csv"
"$OUT/genexport" --rows "$N" --seed 4 --sequential --dup 0 -o "$OUT/export-seq.csv"
"$OUT/genexport" --rows "$N" --seed 4 --sequential --dup 0 --customers -o "$OUT/customers-seq.csv"
# noisy as real exports are: a fifth of the phone numbers not valid, some
# e-mails not valid, more repeated keys
"$OUT/genexport" --rows "$N" --seed 5 --phones=true --invalid-phones 0.2 --invalid-emails 0.02 --dup 0.05 -o "$OUT/export-noisy.csv"
"$OUT/prehash" "$OUT/export-phones.csv" > "$OUT/events-phones.csv"
"$OUT/prehash" "$OUT/export-noisy.csv" > "$OUT/events-noisy.csv"
"$OUT/prehash" "$OUT/export-email.csv" > "$OUT/events-email.csv"
ASOF=2025-01-01T00:00:00Z

declare -A WALL CPU RSS ROWS SERVER
results=()

# measure NAME ROWS CMD...: runs CMD under /usr/bin/time, and notes what
# the server at $ADMIN spent meanwhile.
measure() {
  local name=$1 rows=$2; shift 2
  local t="$OUT/time.$name" before
  before=$(server_counters "$ADMIN")
  if ! /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"; then
    echo "step $name failed:" >&2; tail -5 "$OUT/$name.err" >&2; exit 1
  fi
  read -r wall user sys rss < <(tail -n 1 "$t")
  WALL[$name]=$wall; CPU[$name]=$(awk "BEGIN{print $user+$sys}"); RSS[$name]=$((rss / 1024)); ROWS[$name]=$rows
  SERVER[$name]=$(server_delta "$before" "$(server_counters "$ADMIN")")
}

anchor_sql() { # the hand-made path: \copy into a staging table, then one upsert
  cat <<SQL
CREATE TABLE IF NOT EXISTS t (
  account_id text, token_type text, token_value text, event text, created_at timestamptz,
  status text, expires_at timestamptz, metadata jsonb,
  UNIQUE (account_id, token_type, token_value, event, created_at));
CREATE TEMP TABLE s (account_id text, token_type text, token_value text, event text, created_at timestamptz,
  status text, expires_at timestamptz, metadata jsonb, seq bigint);
\\copy s FROM '$1' WITH (FORMAT csv)
INSERT INTO t
SELECT DISTINCT ON (account_id, token_type, token_value, event, created_at)
       account_id, token_type, token_value, event, created_at, status, expires_at, metadata
FROM s ORDER BY account_id, token_type, token_value, event, created_at, seq DESC
ON CONFLICT (account_id, token_type, token_value, event, created_at) DO UPDATE
SET status = EXCLUDED.status, expires_at = EXCLUDED.expires_at, metadata = EXCLUDED.metadata
WHERE (t.status, t.expires_at, t.metadata) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.expires_at, EXCLUDED.metadata);
SQL
}

echo "== anchors: psql \\copy + INSERT ... ON CONFLICT on pre-hashed events"
fresh_db bench_anchor_p; anchor_sql "$OUT/events-phones.csv" > "$OUT/anchor-phones.sql"
measure anchor_phones "$N" psql "$(dsn_for bench_anchor_p)" -v ON_ERROR_STOP=1 -q -f "$OUT/anchor-phones.sql"
fresh_db bench_anchor_e; anchor_sql "$OUT/events-email.csv" > "$OUT/anchor-email.sql"
measure anchor_email "$N" psql "$(dsn_for bench_anchor_e)" -v ON_ERROR_STOP=1 -q -f "$OUT/anchor-email.sql"
fresh_db bench_anchor_n; anchor_sql "$OUT/events-noisy.csv" > "$OUT/anchor-noisy.sql"
measure anchor_noisy "$N" psql "$(dsn_for bench_anchor_n)" -v ON_ERROR_STOP=1 -q -f "$OUT/anchor-noisy.sql"

# the least a --force over an unchanged file can do on the server: send
# every event to it and read the stored ones to find them unchanged (no
# write), by hand on the anchor's database, which holds them already
cat > "$OUT/anchor-force-floor.sql" <<SQL
CREATE TEMP TABLE s (account_id text, token_type text, token_value text, event text, created_at timestamptz,
  status text, expires_at timestamptz, metadata jsonb, seq bigint);
\\copy s FROM '$OUT/events-phones.csv' WITH (FORMAT csv)
SELECT count(*) FROM s JOIN t USING (account_id, token_type, token_value, event, created_at)
WHERE (t.status, t.expires_at, t.metadata) IS NOT DISTINCT FROM (s.status, s.expires_at, s.metadata);
SQL
measure anchor_force_floor "$N" psql "$(dsn_for bench_anchor_p)" -v ON_ERROR_STOP=1 -q -o /dev/null -f "$OUT/anchor-force-floor.sql"

echo "== import"
fresh_db bench_p; P=$(dsn_for bench_p)
measure import_phones "$N" "$OUT/import" --db "$P" --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
measure import_force "$N" "$OUT/import" --db "$P" --force --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
measure import_skip "$N" "$OUT/import" --db "$P" --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
fresh_db bench_e
measure import_email "$N" "$OUT/import" --db "$(dsn_for bench_e)" --rejects "$OUT/rejects.csv" "$OUT/export-email.csv"
# the noisy export, its rejects written to a file, and again with them
# thrown away (what writing them costs)
fresh_db bench_n
measure import_noisy "$N" "$OUT/import" --db "$(dsn_for bench_n)" --log-level debug --max-rejects 5% --rejects "$OUT/rejects-noisy.csv" "$OUT/export-noisy.csv"
# what writing them took the one goroutine that writes them, as the import
# logs it: the comparison with the run below also holds the noise of two
# imports into two databases (±10 % between runs)
REJECTS_SECONDS=$(sed -n 's/.*msg="rejects written".* seconds=\([0-9.e+-]*\).*/\1/p' "$OUT/import_noisy.err")
REJECTS_SECONDS=${REJECTS_SECONDS:-0}
fresh_db bench_n2
measure import_noisy_no_rejects "$N" "$OUT/import" --db "$(dsn_for bench_n2)" --max-rejects 5% --rejects /dev/null "$OUT/export-noisy.csv"
REJECTS_NOISY=$(($(wc -l < "$OUT/rejects-noisy.csv") - 1))

echo "== customers: a loyalty export against an events export of the same identifiers"
fresh_db bench_seq_e
measure import_events_same_ids "$N" "$OUT/import" --db "$(dsn_for bench_seq_e)" --rejects "$OUT/rejects.csv" "$OUT/export-seq.csv"
fresh_db bench_seq_c
measure import_customers "$N" "$OUT/import" --db "$(dsn_for bench_seq_c)" --customers --rejects "$OUT/rejects.csv" "$OUT/customers-seq.csv"

echo "== reconcile"
EVENTS=$(psql "$P" -qAtc "SELECT count(*) FROM token_events")
# by hand: the latest event per token into a keyed table, then that table
# as a CSV report (the first reconcile changes every token, so its report
# has a row per token too)
cat > "$OUT/anchor-reconcile.sql" <<SQL
CREATE TABLE anchor_status (account_id text, token_type text, token_value text, status text, event text,
  created_at timestamptz, expires_at timestamptz, PRIMARY KEY (account_id, token_type, token_value));
INSERT INTO anchor_status
SELECT DISTINCT ON (account_id, token_type, token_value) account_id, token_type, token_value, status, event, created_at, expires_at
FROM token_events
WHERE created_at <= '$ASOF' AND (expires_at IS NULL OR expires_at > '$ASOF')
ORDER BY account_id, token_type, token_value, created_at DESC, event;
\\copy anchor_status TO '$OUT/anchor-report.csv' WITH (FORMAT csv, HEADER)
SQL
measure anchor_reconcile "$EVENTS" psql "$P" -v ON_ERROR_STOP=1 -q -f "$OUT/anchor-reconcile.sql"
measure reconcile_full "$EVENTS" "$OUT/reconcile" --db "$P" --full --as-of "$ASOF" --report "$OUT/report-full.csv"
"$OUT/import" --db "$P" --rejects "$OUT/rejects.csv" "$OUT/export-1pct.csv" > /dev/null 2>&1
measure reconcile_incremental "$EVENTS" "$OUT/reconcile" --db "$P" --as-of "$ASOF" --report "$OUT/report-incremental.csv"

declare -A SPLIT
# measure_citus NAME ROWS CMD...: measure, and the CPU seconds each node
# of the cluster spent meanwhile.
measure_citus() {
  local name=$1 ports before=() after=() i=0 split=""
  ports="$(psql "$CITUS" -qAtc "SHOW port") $(citus_nodes | awk '{print $2}')"
  for p in $ports; do before+=("$(node_cpu "$p") $(node_wal "$p")"); done
  measure "$@"
  for p in $ports; do after+=("$(node_cpu "$p") $(node_wal "$p")"); done
  for p in $ports; do
    split+="$( [ $i -eq 0 ] && echo coordinator || echo "worker :$p") $(awk -v b="${before[$i]}" -v a="${after[$i]}" \
      'BEGIN { split(b, x, " "); split(a, y, " "); printf "%.1f s, %.0f MB WAL", y[1] - x[1], (y[2] - x[2]) / 1048576 }'); "
    i=$((i + 1))
  done
  SPLIT[$name]=$split
}

if [ -n "$CITUS" ]; then
  echo "== Citus: the same import and reconcile on a coordinator and its workers"
  C=$(fresh_citus_db bench_citus)
  # distributing the schema (a thousand shards) is not the import's work
  "$OUT/import" --db "$C" --rejects "$OUT/rejects.csv" "$OUT/export-1pct.csv" > "$OUT/citus_setup.out" 2>&1 ||
    { echo "Citus setup import failed:" >&2; tail -5 "$OUT/citus_setup.out" >&2; exit 1; }
  psql "$C" -qAtc "TRUNCATE tokens, token_events; DELETE FROM import_files" >/dev/null
  measure_citus citus_import "$N" "$OUT/import" --db "$C" --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
  measure_citus citus_force "$N" "$OUT/import" --db "$C" --force --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
  measure_citus citus_reconcile_full "$EVENTS" "$OUT/reconcile" --db "$C" --full --as-of "$ASOF" --report "$OUT/report-citus-full.csv"
  "$OUT/import" --db "$C" --rejects "$OUT/rejects.csv" "$OUT/export-1pct.csv" > "$OUT/citus_1pct.out" 2>&1 ||
    { echo "Citus 1% import failed:" >&2; tail -5 "$OUT/citus_1pct.out" >&2; exit 1; }
  measure_citus citus_reconcile_incremental "$EVENTS" "$OUT/reconcile" --db "$C" --as-of "$ASOF" --report "$OUT/report-citus-incremental.csv"
  CITUS_ROWS=$(psql "$C" -qAtc "SELECT string_agg(n, ', ') FROM (SELECT 'worker :' || p.nodeport || ' ' || sum(r.result::bigint) || ' events' AS n
    FROM run_command_on_shards('token_events', 'SELECT count(*) FROM %s') r JOIN pg_dist_shard_placement p USING (shardid)
    GROUP BY p.nodeport ORDER BY p.nodeport) x")
fi

echo "== embedded store (SQLite file, no server)"
E="$OUT/embedded.db"
rm -f "$E" "$E"-*
measure embedded_import "$N" "$OUT/import" --db "sqlite:$E" --rejects "$OUT/rejects.csv" "$OUT/export-phones.csv"
measure embedded_reconcile_full "$EVENTS" "$OUT/reconcile" --db "sqlite:$E" --full --as-of "$ASOF"

ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.3f\", $1 / $2; else print \"-\" }"; }
printf '\n%-24s %9s %9s %8s %12s  %s\n' step wall_s cpu_s rss_mb rows_per_s "ratio to anchor"
# the server's side of each step, in a second table
print_server() {
  printf '\n%-24s %9s %9s %9s %9s %9s %9s\n' "server, during the step" cpu_s wal_mb written_mb read_mb temp_mb iowait_s
  local n
  for n in "$@"; do
    [ -n "${SERVER[$n]:-}" ] || continue
    # shellcheck disable=SC2086
    printf '%-24s %9s %9s %9s %9s %9s %9s\n' "$n" ${SERVER[$n]}
  done
}
json="{\"rows\": $N, \"steps\": ["
sep=""
row() { # row NAME ANCHOR LABEL
  local n=$1 a=$2 label=$3 r="-"
  [ -n "$a" ] && r=$(ratio "${WALL[$n]}" "${WALL[$a]}")
  local rps; rps=$(awk "BEGIN{ if (${WALL[$n]} > 0) printf \"%.0f\", ${ROWS[$n]} / ${WALL[$n]}; else print 0 }")
  printf '%-24s %9s %9s %8s %12s  %s\n' "$n" "${WALL[$n]}" "${CPU[$n]}" "${RSS[$n]}" "$rps" "${r}${a:+ (vs $a) $label}"
  local sv; read -r -a sv <<< "${SERVER[$n]}"
  json+="$sep{\"step\": \"$n\", \"wall_s\": ${WALL[$n]}, \"cpu_s\": ${CPU[$n]}, \"rss_mb\": ${RSS[$n]}, \"rows_per_s\": $rps, \"anchor\": \"$a\", \"ratio\": \"$r\""
  json+=", \"server\": {\"cpu_s\": ${sv[0]}, \"wal_mb\": ${sv[1]}, \"written_mb\": ${sv[2]}, \"read_mb\": ${sv[3]}, \"temp_mb\": ${sv[4]}, \"iowait_s\": ${sv[5]}}}"
  sep=", "
}
row anchor_phones "" ""
row import_phones anchor_phones "target <= 0.7"
row import_force import_phones "target <= 0.3"
row import_skip import_phones "target <= 0.02"
row anchor_force_floor import_phones "(by hand: \\copy the events + a read-only compare, the least --force can do on the server)"
row anchor_email "" ""
row import_email anchor_email ""
row anchor_noisy "" ""
row import_noisy anchor_noisy "target <= 0.7 ($REJECTS_NOISY rejects)"
row import_noisy_no_rejects import_noisy "rejects cost 1 - this; target >= 0.95"
printf '%-24s %9.2f %40s  %s\n' rejects_written "$REJECTS_SECONDS" "" \
  "$(ratio "$REJECTS_SECONDS" "${WALL[import_noisy]}") (vs import_noisy: what writing the rejects took) target <= 0.05"
json+="$sep{\"step\": \"rejects_written\", \"wall_s\": $REJECTS_SECONDS, \"anchor\": \"import_noisy\", \"ratio\": \"$(ratio "$REJECTS_SECONDS" "${WALL[import_noisy]}")\"}"
row anchor_reconcile "" ""
row reconcile_full anchor_reconcile "target <= 1.5 (both write the report)"
row reconcile_incremental reconcile_full "target <= 0.05"
row import_events_same_ids "" ""
row import_customers import_events_same_ids "target <= 1.2, peak RSS <= 150 MB"
row embedded_import import_phones "target <= 2 (half the throughput)"
row embedded_reconcile_full reconcile_full ""
if [ -n "$CITUS" ]; then
  row citus_import import_phones "target <= 2"
  row citus_force import_force "target <= 2"
  row citus_reconcile_full reconcile_full "target <= 2"
  row citus_reconcile_incremental reconcile_incremental "target <= 2"
  echo
  echo "Citus, CPU seconds and WAL per node during each step:"
  for n in citus_import citus_force citus_reconcile_full citus_reconcile_incremental; do
    printf '  %-28s %s\n' "$n" "${SPLIT[$n]}"
  done
  echo "  rows: $CITUS_ROWS"
fi
print_server anchor_phones import_phones import_force import_skip anchor_force_floor anchor_email import_email anchor_noisy import_noisy \
  import_noisy_no_rejects anchor_reconcile reconcile_full reconcile_incremental import_events_same_ids import_customers \
  embedded_import embedded_reconcile_full
echo "$json]}" > "$OUT/results.json"
echo
echo "JSON: $OUT/results.json"
