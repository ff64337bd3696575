# Sourced by bench/run.sh: what a PostgreSQL server on
# this machine spent during a step, so a ratio can be explained, not only
# measured. The server must run on this machine (its processes are read
# from /proc) and the DSN's user must be a superuser (data_directory).
#
#   server_counters DSN     prints one line of running totals:
#     cpu_s wal_bytes written_blocks read_blocks temp_bytes iowait_s
#   server_delta BEFORE AFTER   prints the step's figures from two such lines:
#     server_cpu_s wal_mb written_mb read_mb temp_mb iowait_s
#
# What each figure is:
# - cpu_s: user + system seconds of the postmaster and all its processes,
#   live or ended (an ended backend's time is in the postmaster's
#   children's times), so autovacuum and the checkpointer count too;
# - wal_bytes: the WAL insert position (exact: what the step logged);
# - written_blocks: 8 KB pages written out of shared buffers by backends,
#   the background writer and the checkpointer (pg_stat_bgwriter; the
#   checkpointer reports when a checkpoint ends, so a spread checkpoint's
#   writes can land in a later step);
# - read_blocks: pages read into shared buffers from the operating system
#   (its cache or the disk), every database (pg_stat_database.blks_read);
# - temp_bytes: bytes written to temporary files (sorts and hashes that
#   did not fit work_mem);
# - iowait_s: seconds the machine's CPUs sat idle waiting for I/O
#   (/proc/stat, every process).

# server_cpu DSN: CPU seconds so far of the server DSN names. A backend
# that ends while its siblings are read would be missed (no longer listed,
# not yet in the postmaster's children's times) or counted twice, so the
# reading is taken again until the postmaster's children's times did not
# change across it.
server_cpu() {
  local dir pid last kids attempt
  dir=$(psql "$1" -qAtc "SHOW data_directory")
  pid=$(head -n 1 "$dir/postmaster.pid")
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    last=$(cat "/proc/$pid/stat")
    kids=$(for c in $(pgrep -P "$pid"); do cat "/proc/$c/stat" 2>/dev/null; done)
    [ "$(reaped_times "$last")" != "$(reaped_times "$(cat "/proc/$pid/stat")")" ] || break
    sleep 0.2
  done
  printf '%s\n%s\n' "$last" "$kids" |
    awk -v tck="$(getconf CLK_TCK)" 'NF { sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { printf "%.2f", s / tck }'
}

# reaped_times STAT: the children's times (cutime cstime) of a /proc stat line.
reaped_times() { echo "$1" | awk '{ sub(/^.*\) /, ""); print $14, $15 }'; }

server_counters() {
  local cpu pg iowait
  cpu=$(server_cpu "$1")
  pg=$(psql "$1" -qAtF ' ' -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn,
      (SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter),
      (SELECT sum(blks_read) FROM pg_stat_database), (SELECT sum(temp_bytes) FROM pg_stat_database)")
  iowait=$(awk -v tck="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.2f", $6 / tck }' /proc/stat)
  echo "$cpu $pg $iowait"
}

server_delta() {
  awk -v b="$1" -v a="$2" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    printf "%.1f %.1f %.1f %.1f %.1f %.1f", y[1] - x[1], (y[2] - x[2]) / 1048576, (y[3] - x[3]) * 8192 / 1048576,
      (y[4] - x[4]) * 8192 / 1048576, (y[5] - x[5]) / 1048576, y[6] - x[6] }'
}
