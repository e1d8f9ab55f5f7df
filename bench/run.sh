#!/usr/bin/env bash
# Runs every benchmark and checks the issue's targets; `make bench` calls it.
#
#   bench/run.sh BUILD_DIR      e.g. bench/run.sh build/release (a Release build)
#
# 1. transform_bench   parse + map + serialise one user: >= 1,000,000 records/s on one core
# 2. generator_bench   generator throughput (reported, no target)
# 3. sqlite_compare    `spate run` into SQLite vs a plain prepared-statement loop: >= 80%
# 4. peak RSS          `spate run --count 1000000` with --sink sqlite: < 100 MB (also --sink discard)
# 4b. cql_bench       CQL codec: encode an EXECUTE of a 20-column row, decode a Rows result:
#                      under 1 microsecond per row each
# 5. Kafka             bench/kafka.sh: spate produce/process vs kcat and kafka-python on a local
#                      mock cluster, peak RSS of spate process (its own summary and targets)
# 6. PostgreSQL        bench/postgres.sh: spate run --sink postgres vs psql \copy of the same rows
#                      into one throwaway server: >= 80%
# 7. Cassandra         bench/cassandra.sh: spate run --sink cassandra vs the DataStax Python
#                      driver into the CQL test server, and one write at a time: faster than the
#                      driver
# 8. Real time         bench/realtime.sh: the cost of --http (metrics on vs off, same workload,
#                      interleaved): < 3%; ingest->stored p99 at 10,000 records/s into SQLite:
#                      < 50 ms (memory transport), < 100 ms (Kafka mock cluster); --rate
#                      achieved vs asked at 1k, 10k, 100k records/s: within 2%
# 9. Analytics         bench/analytics.sh: spate run into SQLite with a filter and three
#                      aggregations vs the same run without, alternating pairs: >= 85%
#
# Prints a summary at the end; exits 1 if a target was missed (here or in a bench/*.sh part).
# About 10 minutes on the 2-vCPU development VM. Environment: SQLITE_ROWS (200000),
# SQLITE_ROUNDS (5), RSS_COUNT (1000000); bench/kafka.sh and bench/realtime.py list their own.
# Figures and how to read them: docs/benchmarks.md.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$1
bench_dir=$build/bench
spate=$build/spate
for f in "$bench_dir/transform_bench" "$bench_dir/generator_bench" "$bench_dir/sqlite_compare" \
  "$bench_dir/cql_bench" \
  "$spate"; do
  if [[ ! -x $f ]]; then
    echo "$0: $f is missing: build first (cmake --build $build)" >&2
    exit 2
  fi
done

sqlite_rows=${SQLITE_ROWS:-200000}
sqlite_rounds=${SQLITE_ROUNDS:-5}
rss_count=${RSS_COUNT:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/spate-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS

section() { printf '\n== %s\n' "$*"; }
# MB here is 10^6 bytes; /usr/bin/time and getrusage report KiB.
mb() { /usr/bin/python3 -c "print(f'{$1 * 1024 / 1e6:.1f} MB')"; }
verdict() { /usr/bin/python3 -c "print('MET' if $1 else 'MISSED')"; }

section "machine"
echo "nproc: $(nproc)"
lscpu | grep 'Model name' || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# Median items_per_second of one benchmark from a Google Benchmark JSON file.
median_rate() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
name = sys.argv[2] + "_median"
rates = [b["items_per_second"] for b in data["benchmarks"] if b["name"] == name]
print(f"{rates[0]:.0f}" if rates else "0")
EOF
}

section "1. transform_bench (parse + map + serialise, one core; CPU time)"
"$bench_dir/transform_bench" --benchmark_repetitions=3 --benchmark_min_time=1 \
  --benchmark_report_aggregates_only=true --benchmark_out="$work/transform.json" \
  --benchmark_out_format=json
transform_rate=$(median_rate "$work/transform.json" BM_TransformAndSerialise)

section "2. generator_bench"
"$bench_dir/generator_bench" --benchmark_min_time=0.2

section "3. sqlite_compare ($sqlite_rows rows, $sqlite_rounds rounds)"
"$bench_dir/sqlite_compare" "$sqlite_rows" "$sqlite_rounds" | tee "$work/sqlite.txt"
sqlite_ratio=$(sed -n 's/^RESULT sqlite_ratio=\([0-9.]*\).*/\1/p' "$work/sqlite.txt")

# Peak RSS in kB of a command: /usr/bin/time -v where installed, else getrusage in python3.
peak_rss_kb() {
  local log=$work/rss.log
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v "$@" 2>"$log" >/dev/null
  else
    /usr/bin/python3 -c '
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"Maximum resident set size (kbytes): {kb}", file=sys.stderr)
sys.exit(code)' "$@" 2>"$log" >/dev/null
  fi
  grep '^spate run:' "$log" >&2 || true
  sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$log"
}

section "4. peak RSS of spate run --count $rss_count"
rss_sqlite_kb=$(peak_rss_kb "$spate" run --count "$rss_count" --sink sqlite \
  --data-dir "$work/data" --progress never --log-level warn)
echo "sqlite: $(mb "$rss_sqlite_kb")"
rm -rf "$work/data"
rss_null_kb=$(peak_rss_kb "$spate" run --count "$rss_count" --sink discard \
  --data-dir "$work/data-null" --progress never --log-level warn)
echo "null:   $(mb "$rss_null_kb")"

# Runs a part with its own summary (bench/NAME.sh); prints MET, MISSED or FAILED (exit N).
run_part() {
  local status=0
  "$(dirname "$0")/$1.sh" "$build" >&2 || status=$?
  case $status in
    0) echo MET ;;
    1) echo MISSED ;;
    *) echo "FAILED (exit $status)" ;;
  esac
}

section "4b. cql_bench (CQL codec cost per 20-column row, one core)"
"$bench_dir/cql_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$work/cql.json" --benchmark_out_format=json
cql_encode_rate=$(median_rate "$work/cql.json" BM_EncodeExecute)
cql_decode_rate=$(median_rate "$work/cql.json" BM_DecodeRows)

section "5. Kafka (bench/kafka.sh $build)"
kafka_ok=$(run_part kafka)

section "6. PostgreSQL (bench/postgres.sh $build)"
pg_ok=$(run_part postgres)

section "7. Cassandra (bench/cassandra.sh $build)"
cql_sink_ok=$(run_part cassandra)

section "8. Real time (bench/realtime.sh $build)"
realtime_ok=$(run_part realtime)

section "9. Analytics (bench/analytics.sh $build)"
analytics_ok=$(run_part analytics)

transform_ok=$(verdict "$transform_rate >= 1e6")
cql_ok=$(verdict "$cql_encode_rate >= 1e6 and $cql_decode_rate >= 1e6")
sqlite_ok=$(verdict "${sqlite_ratio:-0} >= 0.8")
rss_ok=$(verdict "$rss_sqlite_kb * 1024 < 100e6")

section "summary ($((SECONDS - started)) s)"
printf '%-44s %16s %14s %s\n' "target" "measured" "goal" ""
printf '%-44s %16s %14s %s\n' "transform (parse+map+serialise), rec/s" \
  "$transform_rate" ">= 1000000" "$transform_ok"
printf '%-44s %16s %14s %s\n' "spate run sqlite / plain loop (median)" \
  "$(/usr/bin/python3 -c "print(f'{${sqlite_ratio:-0} * 100:.1f}%')")" ">= 80%" "$sqlite_ok"
printf '%-44s %16s %14s %s\n' "peak RSS, $rss_count records, --sink sqlite" \
  "$(mb "$rss_sqlite_kb")" "< 100 MB" "$rss_ok"
printf '%-44s %16s %14s %s\n' "peak RSS, $rss_count records, --sink discard" \
  "$(mb "$rss_null_kb")" "(reported)" ""
printf '%-44s %16s %14s %s\n' "CQL encode (EXECUTE) / decode, ns per row" \
  "$(/usr/bin/python3 -c "print(f'{1e9 / max($cql_encode_rate, 1):.0f} / {1e9 / max($cql_decode_rate, 1):.0f}')")" \
  "< 1000 each" "$cql_ok"
printf '%-44s %16s %14s %s\n' "Kafka targets (bench/kafka.sh, summary above)" \
  "" "all met" "$kafka_ok"
printf '%-44s %16s %14s %s\n' "PostgreSQL: spate / psql \\copy (above)" \
  "" ">= 80%" "$pg_ok"
printf '%-44s %16s %14s %s\n' "Cassandra: spate / Python driver (above)" \
  "" "> 1" "$cql_sink_ok"
printf '%-44s %16s %14s %s\n' "Real time: --http cost, latency, --rate (above)" \
  "" "all met" "$realtime_ok"
printf '%-44s %16s %14s %s\n' "Analytics: filter + 3 aggregations (above)" \
  "" ">= 85%" "$analytics_ok"
[[ "$transform_ok $sqlite_ok $rss_ok $cql_ok $kafka_ok $pg_ok $cql_sink_ok $realtime_ok \
$analytics_ok" != *MISSED* &&
  "$kafka_ok $pg_ok $cql_sink_ok $realtime_ok $analytics_ok" != *FAILED* ]]
