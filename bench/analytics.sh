#!/usr/bin/env bash
# The cost of analytics (issue 19): `spate run` with a filter and three aggregations against
# the same run without them, side by side in one invocation.
#
#   bench/analytics.sh BUILD_DIR      e.g. bench/analytics.sh build/release (a Release build)
#
# Each round runs the pair in alternating order, each run into a fresh data directory:
#   without: spate run --count N --seed analytics-bench (generator -> SQLite, the default sink)
#   with:    the same plus --config analytics.yaml (written below):
#            where: age >= 0        keeps every row but is evaluated on every row, so it costs
#                                   what a filter costs without shrinking the work;
#            users_per_minute_by_country   1 m tumbling, group by country, count;
#            users_per_minute_by_gender    1 m tumbling, group by gender, count;
#            age_per_minute_by_band        1 m tumbling, group by age_band, count, avg, min and
#                                          max of age (min/max also make the sink index
#                                          created_users(ingested_at)).
# The rate is spate's own summary figure (records over the time from the first record to the
# last stored). The SQLite commit (an fsync) is the bottleneck, so extra CPU in the other
# stages can hide behind it; the CPU time of each run (user + system, /usr/bin/time) is
# therefore reported too, as the median ratio with / without. After each "with" run the script checks that every aggregation counted every
# stored row (sum(users) = rows), so a run that silently skipped them cannot pass.
# Target: median over the rounds of (with / without) >= 85%, i.e. a cost under 15%.
#
# Environment: ANALYTICS_COUNT (500000: about 10 s a run; SQLite takes ~50k rows/s once the
# table holds several 100k rows), ANALYTICS_ROUNDS (5),
# ANALYTICS_SINKS ("sqlite"; "sqlite postgres" adds the same pairs into a throwaway
# PostgreSQL 15 server, reported against the same 85%), SPATE_ARGS (extra flags for every
# timed run, for experiments). Exits 1 if a target was missed, 2 if it could not run.
# Figures and how to read them: docs/benchmarks.md, section "Analytics".
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
spate=$1/spate
py=/usr/bin/python3
[[ -x $spate ]] || { echo "$0: $spate is missing: build first" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "$0: /usr/bin/time is missing: apt-get install time" >&2; exit 2; }
help=$("$spate" run --help 2>&1 || true)
if [[ $help != *--where* || $help != *--aggregate* ]]; then
  echo "$0: $spate has no --where: build a spate with issue 19's analytics" >&2
  exit 2
fi
count=${ANALYTICS_COUNT:-500000}
rounds=${ANALYTICS_ROUNDS:-5}
sinks=${ANALYTICS_SINKS:-sqlite}
tables=(users_per_minute_by_country users_per_minute_by_gender age_per_minute_by_band)

work=$(mktemp -d "${TMPDIR:-/tmp}/spate-analytics-bench.XXXXXX")
chmod 755 "$work"
pg_pid=
cleanup() {
  if [[ -n $pg_pid ]]; then
    # The postmaster, not runuser (which does not pass signals on): fast shutdown.
    kill -INT "$(head -1 "$work/pg/postmaster.pid" 2>/dev/null)" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "$0: $*" >&2; exit 2; }

cat >"$work/analytics.yaml" <<'EOF'
where: age >= 0
aggregations:
  - name: users_per_minute_by_country
    window: 1m
    group_by: [country]
  - name: users_per_minute_by_gender
    window: 1m
    group_by: [gender]
  - name: age_per_minute_by_band
    window: 1m
    group_by: [age_band]
    agg: [avg(age), min(age), max(age)]
EOF

printf '== machine\nnproc: %s\n%s\nload average at start: %s\n' "$(nproc)" \
  "$(lscpu | grep 'Model name' || true)" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "spate: $spate (bench/ at commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo "?"))"
printf '\n== the "with" runs add --config:\n'
cat "$work/analytics.yaml"

# PostgreSQL (only with ANALYTICS_SINKS containing postgres): a throwaway server as in
# bench/postgres.sh; each run gets a new database, so both start from empty tables.
pg_admin=()
start_postgres() {
  local bin as_pg=() i
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -x $bin/initdb ]] || die "no PostgreSQL server: run scripts/setup.sh"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$work"
    as_pg=(runuser -u postgres --)
  fi
  pg_password=bench-$$
  echo "$pg_password" >"$work/pw"
  "${as_pg[@]}" "$bin/initdb" -D "$work/pg" -U postgres --auth=scram-sha-256 \
    --pwfile="$work/pw" -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -3 "$work/initdb.log")"
  pg_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Durability settings stay at their defaults (fsync on), as a user's server.
  "${as_pg[@]}" "$bin/postgres" -D "$work/pg" -p "$pg_port" -c listen_addresses=127.0.0.1 \
    -k "$work" >"$work/server.log" 2>&1 &
  pg_pid=$!
  pg_admin=(env PGPASSWORD="$pg_password" PGOPTIONS="-c client_min_messages=warning"
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 -Atq)
  for ((i = 0; i < 100; i++)); do
    "${pg_admin[@]}" -d postgres -c 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  "${pg_admin[@]}" -d postgres -c 'select 1' >/dev/null || die "PostgreSQL did not start"
  echo "server: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at 127.0.0.1:$pg_port"
}

# Runs one timed spate run; prints its rate (records/s from the summary line) and its CPU
# seconds (user + system).
#   run_one SINK with|without LOG
run_one() {
  local sink=$1 mode=$2 log=$3 extra=() dsn line
  rm -rf "$work/data"
  [[ $mode == with ]] && extra=(--config "$work/analytics.yaml")
  if [[ $sink == postgres ]]; then
    "${pg_admin[@]}" -d postgres -c 'drop database if exists bench' \
      -c 'create database bench' >/dev/null
    dsn="host=127.0.0.1 port=$pg_port dbname=bench user=postgres password=$pg_password"
    extra+=(--sink postgres)
  fi
  # shellcheck disable=SC2086 # SPATE_ARGS: extra flags, split on purpose.
  SPATE_PG_DSN=${dsn:-} /usr/bin/time -f '%U %S' -o "$log.cpu" "$spate" run --count "$count" --seed analytics-bench --progress never \
    --data-dir "$work/data" "${extra[@]}" ${SPATE_ARGS:-} 2>"$log" ||
    die "spate run ($sink, $mode) failed: $(tail -3 "$log")"
  line=$(grep -m1 '^spate run:' "$log") || die "no summary line in $log"
  # "spate run: 800,000 records in 10.02 s (79,840/s): 800,000 rows stored, ..."
  "$py" - "$line" "$count" "$(cat "$log.cpu")" <<'EOF' || die "unexpected summary: $line"
import re, sys
line, count, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
m = re.search(r"\(([\d,]+)/s\)", line)
stored = re.search(r"([\d,]+) rows stored", line)
if not m or not stored or int(stored.group(1).replace(",", "")) != count:
    sys.exit(1)
print(m.group(1).replace(",", ""), f"{float(cpu[-2]) + float(cpu[-1]):.2f}")
EOF
}

# After a "with" run: every aggregation counted every stored row.
check_aggregates() {
  local sink=$1 table total rows
  for table in "${tables[@]}"; do
    if [[ $sink == sqlite ]]; then
      total=$(sqlite3 "$work/data/spate.db" "select coalesce(sum(users), 0) from $table")
      rows=$(sqlite3 "$work/data/spate.db" "select count(*) from created_users")
    else
      total=$("${pg_admin[@]}" -d bench -c "select coalesce(sum(users), 0) from $table")
      rows=$("${pg_admin[@]}" -d bench -c "select count(*) from created_users")
    fi
    if [[ $total != "$rows" || $rows != "$count" ]]; then
      echo "$0: $sink: $table counts $total users for $rows rows (expected $count)" >&2
      exit 1
    fi
  done
}

summary=()
failed=0
for sink in $sinks; do
  case $sink in
    sqlite) ;;
    postgres) [[ -n $pg_pid ]] || start_postgres ;;
    *) die "ANALYTICS_SINKS: unknown sink '$sink' (sqlite, postgres)" ;;
  esac
  printf '\n== %s: %s records a run, %s rounds (records/s; order alternates)\n' \
    "$sink" "$count" "$rounds"
  with=()
  without=()
  with_cpu=()
  without_cpu=()
  for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(without with); else order=(with without); fi
    for mode in "${order[@]}"; do
      read -r rate cpu <<<"$(run_one "$sink" "$mode" "$work/$sink-$mode-$r.log")"
      [[ -n $cpu ]] || exit 2  # run_one said why.
      if [[ $mode == with ]]; then
        check_aggregates "$sink"
        with+=("$rate")
        with_cpu+=("$cpu")
      else
        without+=("$rate")
        without_cpu+=("$cpu")
      fi
    done
    echo "round $r: without ${without[-1]}/s ${without_cpu[-1]} s CPU," \
      "with ${with[-1]}/s ${with_cpu[-1]} s CPU: ratio" \
      "$("$py" -c "print(f'{100 * ${with[-1]} / ${without[-1]}:.1f}%')")," \
      "load $(cut -d' ' -f1 /proc/loadavg)"
  done
  # The median of the per-round ratios (pairs ran back to back, so the machine's slow
  # minutes hit both runs of a pair); the middle half of the pairs shows the noise.
  result=$("$py" - "${with[*]}" "${without[*]}" "${with_cpu[*]}" "${without_cpu[*]}" <<'EOF'
import statistics, sys
w, wo, wc, woc = ([float(x) for x in arg.split()] for arg in sys.argv[1:5])
ratios = sorted(a / b for a, b in zip(w, wo))
q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
med = statistics.median(ratios)
cpu = statistics.median(a / b for a, b in zip(wc, woc))
print(f"{med * 100:.1f} {q[0] * 100:.1f} {q[2] * 100:.1f} "
      f"{statistics.median(wo):,.0f} {statistics.median(w):,.0f} "
      f"{statistics.median(woc):.2f} {statistics.median(wc):.2f} {cpu * 100:.1f} "
      f"{'MET' if med >= 0.85 else 'MISSED'}")
EOF
)
  read -r ratio lo hi med_without med_with cpu_without cpu_with cpu_ratio verdict <<<"$result"
  [[ $verdict == MET ]] || failed=1
  summary+=("$(printf '%-48s %20s %12s %s' "$sink: with filter+3 aggregations / without" \
    "$ratio%" ">= 85%" "$verdict")")
  summary+=("$(printf '%-48s %20s %12s' "  middle half of the pairs" "$lo% .. $hi%" "(reported)")")
  summary+=("$(printf '%-48s %20s %12s' "  records/s without / with (medians)" \
    "$med_without / $med_with" "(reported)")")
  summary+=("$(printf '%-48s %20s %12s' "  CPU s without / with (medians); with/without" \
    "$cpu_without / $cpu_with; $cpu_ratio%" "(reported)")")
done

printf '\n== summary (load average at end: %s)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-48s %20s %12s\n' "target" "measured" "goal"
printf '%s\n' "${summary[@]}"
exit "$failed"
