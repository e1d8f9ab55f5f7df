#!/usr/bin/env bash
# spate into PostgreSQL vs psql \copy of the same rows into the same table, side by side.
#
#   bench/postgres.sh BUILD_DIR      (also called by bench/run.sh)
#
# Starts a throwaway PostgreSQL server (Debian's postgresql-15: initdb into a temp dir, run as
# the unprivileged postgres user when root, 127.0.0.1 on a free port), then per round, in
# alternating order:
#   spate:  `spate run --count N --sink postgres` into an emptied created_users: the whole
#           pipeline (generator, transform, COPY per batch, one transaction per batch);
#   psql:   `psql -c '\copy created_users (...) from FILE'` into the emptied table, FILE
#           being those same N rows as spate stored them (exported once with \copy ... to).
# Both are timed by the wall clock of the whole command. Target: spate >= 80% of psql's rate
# (medians). Environment: PG_ROWS (200000), PG_ROUNDS (3), SPATE_ARGS (extra flags for the
# timed spate runs, for experiments). Exits 1 if the target is missed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
spate=$1/spate
py=/usr/bin/python3
[[ -x $spate ]] || { echo "$0: $spate is missing: build first" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bin/initdb ]] || { echo "$0: no PostgreSQL server: run scripts/setup.sh" >&2; exit 2; }

rows=${PG_ROWS:-200000}
rounds=${PG_ROUNDS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/spate-pg-bench.XXXXXX")
chmod 755 "$work"
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
pg_pid=
cleanup() {
  if [[ -n $pg_pid ]]; then
    # The postmaster, not runuser (which does not pass signals on): fast shutdown.
    kill -INT "$(head -1 "$work/data/postmaster.pid" 2>/dev/null)" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "$0: $*" >&2; exit 1; }
calc() { "$py" -c "print($1)"; }
median() { "$py" -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))' "$@"; }

printf '== machine\nnproc: %s\n%s\nload average: %s\n' "$(nproc)" \
  "$(lscpu | grep 'Model name' || true)" "$(cut -d' ' -f1-3 /proc/loadavg)"

password=bench-$$
echo "$password" >"$work/pw"
"${as_pg[@]}" "$bin/initdb" -D "$work/data" -U postgres --auth=scram-sha-256 --pwfile="$work/pw" \
  -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$work/initdb.log")"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Durability settings stay at their defaults (fsync on): both loaders pay for the same commits.
"${as_pg[@]}" "$bin/postgres" -D "$work/data" -p "$port" -c listen_addresses=127.0.0.1 \
  -k "$work" >"$work/server.log" 2>&1 &
pg_pid=$!
export PGPASSWORD=$password
for ((i = 0; i < 100; i++)); do
  psql -h 127.0.0.1 -p "$port" -U postgres -Atqc 'select 1' >/dev/null 2>&1 && break
  sleep 0.1
done
psql -h 127.0.0.1 -p "$port" -U postgres -qc 'create database bench' || die "server did not start"
unset PGPASSWORD
dsn="host=127.0.0.1 port=$port dbname=bench user=postgres password=$password"
q() { PGPASSWORD=$password psql -h 127.0.0.1 -p "$port" -U postgres -d bench -v ON_ERROR_STOP=1 -Atqc "$1"; }
echo "server: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at 127.0.0.1:$port"

# The rows: spate stores them once; psql later loads exactly what it stored.
SPATE_PG_DSN=$dsn "$spate" run --count "$rows" --seed pg-bench --sink postgres --progress never \
  --data-dir "$work/d" 2>"$work/first.log" || die "spate run failed: $(tail -3 "$work/first.log")"
columns=$(q "select string_agg(column_name, ', ' order by ordinal_position) from
  information_schema.columns where table_name = 'created_users'")
q "\\copy created_users ($columns) to '$work/rows.tsv'"
[[ $(wc -l <"$work/rows.tsv") == "$rows" ]] || die "exported $(wc -l <"$work/rows.tsv") rows, expected $rows"
echo "rows: $rows ($(du -h "$work/rows.tsv" | cut -f1) as COPY text)"

spate_rates=()
psql_rates=()
run_spate() {
  local t0 t1
  q "truncate created_users"
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086 # SPATE_ARGS: extra flags, split on purpose.
  SPATE_PG_DSN=$dsn "$spate" run --count "$rows" --seed pg-bench --sink postgres --progress never \
    --data-dir "$work/d" ${SPATE_ARGS:-} 2>"$work/spate.log" || die "spate run failed: $(tail -3 "$work/spate.log")"
  t1=$EPOCHREALTIME
  [[ $(q "select count(*) from created_users") == "$rows" ]] || die "spate stored the wrong count"
  spate_rates+=("$(calc "round($rows / ($t1 - $t0))")")
}
run_psql() {
  local t0 t1
  q "truncate created_users"
  t0=$EPOCHREALTIME
  q "\\copy created_users ($columns) from '$work/rows.tsv'"
  t1=$EPOCHREALTIME
  [[ $(q "select count(*) from created_users") == "$rows" ]] || die "psql loaded the wrong count"
  psql_rates+=("$(calc "round($rows / ($t1 - $t0))")")
}
printf '\n== %s rows, %s rounds (rows/s)\n' "$rows" "$rounds"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run_spate; run_psql; else run_psql; run_spate; fi
  echo "round $r: spate ${spate_rates[-1]}  psql \\copy ${psql_rates[-1]}"
done
spate_median=$(median "${spate_rates[@]}")
psql_median=$(median "${psql_rates[@]}")
ratio=$(calc "round(100 * $spate_median / $psql_median, 1)")
verdict=$("$py" -c "print('MET' if $ratio >= 80 else 'MISSED')")
printf '\n== summary\n%-44s %10s %12s\n' "target" "measured" "goal"
printf '%-44s %9s%% %12s %s\n' "postgres: spate run / psql \\copy (median)" "$ratio" ">= 80%" "$verdict"
echo "medians: spate $spate_median rows/s, psql \\copy $psql_median rows/s"
[[ $verdict == MET ]]
