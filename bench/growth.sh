#!/usr/bin/env bash
# How the cost per row grows with the database (bench/run.sh --growth).
# Not part of `go test`: timings never decide a test.
#
#   bench/run.sh --growth [SIZE...]    default: 1000000 20000000
#
# For each SIZE, a fresh database on $BENCH_DSN is filled with a SIZE-row
# export (not measured), then measured: the import of a second SIZE-row
# export of the same people (new events of known tokens, as a nightly
# export brings), a --force re-import of it (every event unchanged), and a
# reconcile --full over everything. Each step's seconds per row (per event
# for the reconcile) are compared with the first SIZE's; target: at most
# 1.5 × for each step. Also prints each database's size: the larger ones
# are far past PostgreSQL's cache (shared_buffers).
#
# A 20 M-row size takes about 40 minutes and 40 GB of disk; the exports
# are written to bench/out and deleted after each size.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/growth
ADMIN=${BENCH_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 20000000)
mkdir -p "$OUT"
ASOF=2025-01-01T00:00:00Z

dsn_for() { echo "${ADMIN/\/postgres\?//$1?}"; }
for p in import reconcile genexport; do go build -o "$OUT/$p" "./cmd/$p"; done

declare -A WALL RSS UNITS
# measure NAME UNITS CMD...: wall seconds and peak RSS of CMD.
measure() {
  local name=$1 units=$2; shift 2
  if ! /usr/bin/time -f "%e %M" -o "$OUT/time.$name" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"; then
    echo "step $name failed:" >&2; tail -5 "$OUT/$name.err" >&2; exit 1
  fi
  read -r wall rss < <(tail -n 1 "$OUT/time.$name")
  WALL[$name]=$wall; RSS[$name]=$((rss / 1024)); UNITS[$name]=$units
  printf '  %-28s %9.2f s %8d MB  %.3f µs per row\n' "$name" "$wall" "$((rss / 1024))" "$(awk "BEGIN{print $wall * 1e6 / $units}")"
}

for n in "${SIZES[@]}"; do
  echo "== $n rows"
  "$OUT/genexport" --rows "$n" --seed 21 --people $((n / 2)) -o "$OUT/base.csv"
  "$OUT/genexport" --rows "$n" --seed 22 --people $((n / 2)) -o "$OUT/next.csv"
  db=bench_growth_$n
  psql "$ADMIN" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  psql "$ADMIN" -qAtc "CREATE DATABASE $db" >/dev/null
  D=$(dsn_for "$db")
  start=$(date +%s)
  "$OUT/import" --db "$D" -q --rejects "$OUT/rejects.csv" "$OUT/base.csv"
  echo "  filled with $n rows in $(( $(date +%s) - start )) s"
  measure "import_$n" "$n" "$OUT/import" --db "$D" --rejects "$OUT/rejects.csv" "$OUT/next.csv"
  measure "force_$n" "$n" "$OUT/import" --db "$D" --force --rejects "$OUT/rejects.csv" "$OUT/next.csv"
  events=$(psql "$D" -qAtc "SELECT count(*) FROM token_events")
  measure "reconcile_full_$n" "$events" "$OUT/reconcile" --db "$D" --full --as-of "$ASOF"
  echo "  database $(psql "$D" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))"), $events events, shared_buffers $(psql "$D" -qAtc "SHOW shared_buffers")"
  rm -f "$OUT/base.csv" "$OUT/next.csv"
  psql "$ADMIN" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
done

first=${SIZES[0]}
echo
printf '%-16s %14s %14s %8s  %s\n' step "µs/row @$first" "µs/row @size" ratio "target <= 1.5"
for n in "${SIZES[@]:1}"; do
  for step in import force reconcile_full; do
    a="${step}_$first" b="${step}_$n"
    printf '%-16s %14.3f %14.3f %8.3f  (%s rows)\n' "$step" \
      "$(awk "BEGIN{print ${WALL[$a]} * 1e6 / ${UNITS[$a]}}")" "$(awk "BEGIN{print ${WALL[$b]} * 1e6 / ${UNITS[$b]}}")" \
      "$(awk "BEGIN{print (${WALL[$b]} / ${UNITS[$b]}) / (${WALL[$a]} / ${UNITS[$a]})}")" "$n"
  done
done
