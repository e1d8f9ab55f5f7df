#!/usr/bin/env bash
# spate into Cassandra (the in-memory CQL test server) vs the DataStax Python driver writing the
# same rows to the same server, side by side.
#
#   bench/cassandra.sh BUILD_DIR      (also called by bench/run.sh)
#
# Starts tests/rigs/cql_server.py (one node, 127.0.0.1, a free port). The rows are made once:
# `spate run --count N --sink sqlite` and read back from SQLite. Then per round, in
# alternating order, into a fresh keyspace each time:
#   spate:    `spate run --count N --sink cassandra`: the whole pipeline (generator, transform,
#             one prepared INSERT per row, up to --cassandra-in-flight at once, token-aware);
#   driver:   the DataStax Python driver (python3-cassandra), the same prepared INSERT of the
#             same rows with execute_concurrent_with_args at the same concurrency; only the
#             inserting is timed (the rows are in memory before the clock starts);
#   serial:   spate with --cassandra-in-flight 1 on N/10 rows: what one write at a time costs.
# The server is Python and uses about one core: its own ceiling is the limit for both
# clients, which is why the figures are ratios. Environment: CQL_ROWS (100000), CQL_ROUNDS
# (3), CQL_IN_FLIGHT (512). Exits 1 if a run fails or a count is wrong; spate has no speed
# target against the driver here beyond being faster (ratio > 1).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
spate=$1/spate
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
server=$here/../tests/rigs/cql_server.py
[[ -x $spate ]] || { echo "$0: $spate is missing: build first" >&2; exit 2; }

rows=${CQL_ROWS:-100000}
rounds=${CQL_ROUNDS:-3}
in_flight=${CQL_IN_FLIGHT:-512}
work=$(mktemp -d "${TMPDIR:-/tmp}/spate-cql-bench.XXXXXX")
server_pid=
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "$0: $*" >&2; exit 1; }
median() { "$py" -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))' "$@"; }
now() { "$py" -c 'import time; print(time.monotonic())'; }

printf '== machine\nnproc: %s\n%s\nload average: %s\n' "$(nproc)" \
  "$(lscpu | grep 'Model name' || true)" "$(cut -d' ' -f1-3 /proc/loadavg)"

mkfifo "$work/commands"
"$py" "$server" <"$work/commands" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
exec 3>"$work/commands"
for _ in $(seq 100); do
  grep -q '^port=' "$work/server.out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/^port=\([0-9]*\).*/\1/p' "$work/server.out")
[[ -n $port ]] || die "the CQL test server did not start: $(cat "$work/server.err")"
hosts=127.0.0.1:$port
count_rows() {
  echo "rows $1" >&3
  local before
  before=$(grep -c '' "$work/server.out")
  for _ in $(seq 100); do
    [[ $(grep -c '' "$work/server.out") -gt $before ]] && break
    sleep 0.05
  done
  tail -1 "$work/server.out" | sed -n 's/^rows=//p'
}

# The rows, once, as spate makes them.
"$spate" run --count "$rows" --sink sqlite --data-dir "$work/rows" --progress never \
  --log-level warn || die "making the rows failed"

cat >"$work/driver.py" <<'EOF'
import datetime, sqlite3, sys, time, uuid
from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args
port, keyspace, db, concurrency = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
columns = ["id", "first_name", "last_name", "gender", "address", "post_code", "email", "username",
           "registered_date", "phone", "picture", "dob", "age", "nat", "city", "state", "country",
           "latitude", "longitude", "timezone", "cell", "ingested_at"]
rows = []
for r in sqlite3.connect(db).execute(f"SELECT {', '.join(columns)} FROM created_users"):
    r = list(r)
    r[0] = uuid.UUID(r[0])
    # SQLite keeps ingested_at as ISO-8601 text or epoch milliseconds; the driver wants a datetime.
    t = r[-1]
    r[-1] = (datetime.datetime.fromisoformat(t.replace("Z", "+00:00")) if isinstance(t, str)
             else datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc))
    rows.append(r)
cluster = Cluster(["127.0.0.1"], port=port, protocol_version=4, schema_metadata_enabled=False,
                  token_metadata_enabled=False, compression=False)
session = cluster.connect()
session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}")
types = {"id": "uuid", "age": "bigint", "latitude": "double", "longitude": "double",
         "ingested_at": "timestamp"}
session.execute(f"CREATE TABLE {keyspace}.created_users ("
                + ", ".join(f"{c} {types.get(c, 'text')}" + (" PRIMARY KEY" if c == "id" else "")
                            for c in columns) + ")")
insert = session.prepare(f"INSERT INTO {keyspace}.created_users ({', '.join(columns)}) "
                         f"VALUES ({', '.join('?' * len(columns))})")
start = time.monotonic()
results = execute_concurrent_with_args(session, insert, rows, concurrency=concurrency,
                                       raise_on_first_error=True)
elapsed = time.monotonic() - start
assert all(ok for ok, _ in results)
print(f"RESULT rows={len(rows)} seconds={elapsed:.3f}")
cluster.shutdown()
EOF

spate_rates=()
driver_rates=()
serial_rates=()
# CPU seconds the server has used so far (user + system).
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$server_pid/stat"; }
busy=()
run_spate() {  # keyspace, rows, extra flags...
  local ks=$1 n=$2
  shift 2
  local t0 t1 c0 c1
  c0=$(server_cpu)
  t0=$(now)
  "$spate" run --count "$n" --sink cassandra --cassandra-hosts "$hosts" --keyspace "$ks" \
    --progress never --log-level warn "$@" || die "spate run failed"
  t1=$(now)
  c1=$(server_cpu)
  # How much of the run the server spent working: near 100%, it is what limits the rate.
  echo "$("$py" -c "print(round(100 * ($c1 - $c0) / ($t1 - $t0)))")" >"$work/busy"
  local stored
  stored=$(count_rows "$ks.created_users")
  [[ $stored == "$n" ]] || die "spate stored $stored rows in $ks, expected $n"
  "$py" -c "print(round($n / ($t1 - $t0)))"
}
run_driver() {
  local ks=$1 out
  out=$("$py" "$work/driver.py" "$port" "$ks" "$work/rows/spate.db" "$in_flight") ||
    die "the driver run failed"
  local stored
  stored=$(count_rows "$ks.created_users")
  [[ $stored == "$rows" ]] || die "the driver stored $stored rows in $ks, expected $rows"
  local secs
  secs=$(sed -n 's/^RESULT rows=[0-9]* seconds=\([0-9.]*\)/\1/p' <<<"$out")
  "$py" -c "print(round($rows / $secs))"
}

for round in $(seq "$rounds"); do
  if ((round % 2)); then
    spate_rates+=("$(run_spate "s$round" "$rows" --cassandra-in-flight "$in_flight")")
    busy+=("$(cat "$work/busy")")
    driver_rates+=("$(run_driver "d$round")")
  else
    driver_rates+=("$(run_driver "d$round")")
    spate_rates+=("$(run_spate "s$round" "$rows" --cassandra-in-flight "$in_flight")")
    busy+=("$(cat "$work/busy")")
  fi
  serial_rates+=("$(run_spate "one$round" $((rows / 10)) --cassandra-in-flight 1)")
  echo "round $round: spate ${spate_rates[-1]} rows/s (server busy ${busy[-1]}% of it)," \
    "driver ${driver_rates[-1]} rows/s, spate one-at-a-time ${serial_rates[-1]} rows/s"
done

spate_median=$(median "${spate_rates[@]}")
driver_median=$(median "${driver_rates[@]}")
serial_median=$(median "${serial_rates[@]}")
ratio=$("$py" -c "print(f'{$spate_median / $driver_median:.2f}')")
in_flight_gain=$("$py" -c "print(f'{$spate_median / $serial_median:.1f}')")
echo
echo "== summary ($rows rows, $rounds rounds, $in_flight in flight)"
echo "spate run --sink cassandra:   $spate_median rows/s (median; server busy $(median "${busy[@]}")% of the run)"
echo "DataStax Python driver:       $driver_median rows/s (median, inserts only)"
echo "spate, one write at a time:   $serial_median rows/s (median)"
echo "RESULT cassandra_ratio=$ratio in_flight_gain=$in_flight_gain server_busy=$(median "${busy[@]}")"
"$py" -c "import sys; sys.exit(0 if $ratio > 1 else 1)"
