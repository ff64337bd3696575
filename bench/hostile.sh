#!/usr/bin/env bash
# Peak memory of the importer on SPEC §10's hostile exports (limit: 300 MB
# RSS each). Not part of `go test`: the inputs are gigabytes, generated on
# the fly and piped in on standard input, so nothing large touches the disk.
#
#   bench/hostile.sh            the full sizes (about 10 GB piped through; a few minutes)
#   bench/hostile.sh small      a tenth of them, to try the script
#
# Each case runs against a fresh embedded database and, when $BENCH_DSN
# names a PostgreSQL server (default: the local one), against PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/hostile
ADMIN=${BENCH_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
SCALE=1
[ "${1:-}" = small ] && SCALE=10
mkdir -p "$OUT"
go build -o "$OUT/import" ./cmd/import
go build -o "$OUT/hostile" ./bench/hostile

pg_ok=false
if psql "$ADMIN" -qAtc 'SELECT 1' >/dev/null 2>&1; then pg_ok=true; fi
dsn_for() { echo "${ADMIN/\/postgres\?//$1?}"; }

printf '%-40s %-9s %6s %8s %8s  %s\n' case store exit wall_s rss_mb "rows read / imported / rejected"
run_case() { # NAME STORE GEN-ARGS... -- IMPORT-ARGS...
  local name=$1 store=$2; shift 2
  local gen=() imp=()
  while [ "$1" != -- ]; do gen+=("$1"); shift; done; shift
  imp=("$@")
  local db
  if [ "$store" = embedded ]; then
    db="sqlite:$OUT/$name.db"; rm -f "$OUT/$name.db"*
  else
    psql "$ADMIN" -qAtc "DROP DATABASE IF EXISTS hostile WITH (FORCE)" >/dev/null 2>&1
    psql "$ADMIN" -qAtc "CREATE DATABASE hostile" >/dev/null
    db=$(dsn_for hostile)
  fi
  set +e
  "$OUT/hostile" "${gen[@]}" | /usr/bin/time -f "%e %M" -o "$OUT/time" \
    "$OUT/import" --db "$db" --json --account P00000001 --event e --max-rejects 100% \
    --rejects "$OUT/$name.rejects.csv" "${imp[@]}" - > "$OUT/$name.json" 2> "$OUT/$name.err"
  local code=${PIPESTATUS[1]}
  set -e
  read -r wall rss < <(tail -n 1 "$OUT/time")
  local counts
  counts=$(sed -E 's/.*"rows_read":([0-9]+).*"rows_imported":([0-9]+).*"rows_rejected":([0-9]+).*/\1 \/ \2 \/ \3/' "$OUT/$name.json" 2>/dev/null || true)
  printf '%-40s %-9s %6s %8s %8s  %s\n' "$name" "$store" "$code" "$wall" "$((rss / 1024))" "$counts"
}

stores=(embedded); $pg_ok && stores+=(postgres)
for s in "${stores[@]}"; do
  run_case "8000 rows x 1 MB unused column" "$s" wide $((8000 / SCALE)) 1000000 --
  run_case "8000 rows x 1 MB column in metadata" "$s" kept $((8000 / SCALE)) 1000000 -- --metadata notes
  run_case "one 1 GB line" "$s" line $((1000000000 / SCALE)) --
  run_case "500 MB unterminated quote" "$s" quote $((500000000 / SCALE)) --
done
echo "limit: 300 MB peak RSS per case (SPEC §10); exit 1 is expected for the unterminated quote"
