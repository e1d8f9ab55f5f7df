#!/usr/bin/env bash
# Kafka benchmarks: spate against kcat and kafka-python on one local mock cluster (3 brokers,
# librdkafka's mock cluster in tests/rigs/spate_kafka_rig, 127.0.0.1 only). bench/run.sh calls
# it last; it also runs on its own:
#
#   bench/kafka.sh BUILD_DIR      e.g. bench/kafka.sh build/release (a Release build)
#
# 1. produce   the same records (key<TAB>value, made once by `spate produce` and dumped with
#              kcat), each tool into a fresh 6-partition topic, interleaved spate, kcat,
#              kafka-python per round; wall clock of the whole command (start-up included):
#              spate produce >= 80% of kcat -P (same producer settings as spate's), and
#              >= 50x kafka-python's KafkaProducer as the tutorial stack configures it
#              (KafkaProducer(bootstrap_servers=..., max_block_ms=5000): librdkafka-like
#              defaults, acks=1, no batching delay, 16 KB batches, no compression); a tuned
#              kafka-python (acks=all, linger 5 ms, 1 MB batches, lz4) is reported next to it
# 2. process   READ_COUNT records produced by spate (verified all readable, low watermarks 0):
#              `spate process --sink discard --exit-at-end` vs `kcat -C -o beginning -e`.
#              With only the discard sink, process joins no group (it stores nothing, so it
#              has no offsets to commit), as kcat -C. The target (>= 80%) is checked on spate's
#              time from its partitions being assigned (the `kafka: reading ... without a
#              consumer group` line, or `kafka: assigned` for a group member) to exit, so
#              that start-up is left out; the wall-clock ratio is reported too.
# 3. peak RSS  of those `spate process` runs: < 150 MB
#
# Prints a summary; exits 1 if a target was missed, 2 if it could not run. 90-150 s on the
# 2-vCPU development VM. Environment: PRODUCE_COUNT (200000), PY_COUNT (20000),
# READ_COUNT (1000000), READ_PARTITIONS (128), ROUNDS (5: one round can move by 30%).
# Figures and how to read them: docs/benchmarks.md, section "Kafka".
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and the parsing below expect a '.' decimal point

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$1
spate=$build/spate
rig=$build/tests/rigs/spate_kafka_rig
py=/usr/bin/python3
die() {
  echo "$0: $*" >&2
  [[ -s ${work:-}/watermarks.err ]] && tail -5 "$work/watermarks.err" >&2
  exit 2
}
# Dies naming a step that failed, after the end of its log.
failed() {
  [[ -s $2 ]] && tail -5 "$2" >&2
  die "$1 failed"
}
for f in "$spate" "$rig"; do
  [[ -x $f ]] || die "$f is missing: build first (cmake --build $build)"
done
command -v kcat >/dev/null || die "kcat is missing (scripts/setup.sh installs it)"
"$py" -c 'import kafka' 2>/dev/null || die "python3-kafka is missing (scripts/setup.sh installs it)"

produce_count=${PRODUCE_COUNT:-200000}
py_count=${PY_COUNT:-20000}
read_count=${READ_COUNT:-1000000}
read_partitions=${READ_PARTITIONS:-128}
rounds=${ROUNDS:-5}
seed=kafka-bench
((py_count <= produce_count)) || die "PY_COUNT must be <= PRODUCE_COUNT"
# spate's producer defaults (src/transport/kafka_sink.cc), given to kcat -P as well.
producer_settings=(compression.codec=lz4 linger.ms=5 enable.idempotence=true
  batch.num.messages=10000 batch.size=1048576 queue.buffering.max.kbytes=65536)

work=$(mktemp -d "${TMPDIR:-/tmp}/spate-kafka-bench.XXXXXX")
rig_pid=
rig_in=
rig_out=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $rig_pid ]] && kill -0 "$rig_pid" 2>/dev/null; then
    { echo quit >&"$rig_in"; } 2>/dev/null || true
    { exec {rig_in}>&-; } 2>/dev/null || true
    local i
    for ((i = 0; i < 30; i++)); do
      kill -0 "$rig_pid" 2>/dev/null || break
      # A zombie (exited, not yet reaped) counts as gone.
      [[ $(ps -o stat= -p "$rig_pid" 2>/dev/null) == Z* ]] && break
      sleep 0.1
    done
    if kill -0 "$rig_pid" 2>/dev/null && [[ $(ps -o stat= -p "$rig_pid" 2>/dev/null) != Z* ]]; then
      # It blocks SIGTERM outside its command loop, so only SIGKILL ends a stuck shutdown.
      echo "$0: the rig (pid $rig_pid) did not exit 3 s after quit; killing it" >&2
      kill -KILL "$rig_pid" 2>/dev/null || true
    fi
    wait "$rig_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$SECONDS

section() { printf '\n== %s\n' "$*"; }
calc() { "$py" -c "print($1)"; }
# Median of the arguments: rounded to an integer when they all are, else to 3 decimals.
median() {
  "$py" -c '
import statistics, sys
m = statistics.median(map(float, sys.argv[1:]))
print(round(m) if all(a.isdigit() for a in sys.argv[1:]) else round(m, 3))' "$@"
}
verdict() { "$py" -c "print('MET' if $1 else 'MISSED')"; }
# Seconds since $1 (an $EPOCHREALTIME).
since() { calc "f'{$EPOCHREALTIME - $1:.3f}'"; }

section "machine"
echo "nproc: $(nproc)"
lscpu | grep 'Model name' || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kcat: $(kcat -V 2>&1 | head -1)"

# The rig: its stdin/stdout are this shell's coprocess pipes; one reply line per command.
coproc RIG { exec "$rig" --brokers 3; }
# shellcheck disable=SC2153 # RIG_PID is set by coproc
rig_pid=$RIG_PID
rig_in=${RIG[1]}
rig_out=${RIG[0]}
read -r -t 15 -u "$rig_out" line || die "the rig did not start"
bootstrap=${line#bootstrap=}
[[ $line == bootstrap=* && -n $bootstrap ]] || die "unexpected rig output: $line"
echo "rig: 3 brokers at $bootstrap"
rig_cmd() {
  local reply
  echo "$*" >&"$rig_in"
  read -r -t 15 -u "$rig_out" reply || die "no reply from the rig to: $*"
  [[ $reply == ok ]] || die "rig: $* -> $reply"
}
# A topic with partition p led by broker p % 3 + 1. The mock picks leaders at random, and the
# client compresses (and decompresses) in one thread per broker, so a topic whose partitions
# mostly sit on one broker runs measurably slower: every topic gets the same, even layout.
make_topic() {
  local p
  rig_cmd topic "$1" "$2"
  for ((p = 0; p < $2; p++)); do rig_cmd leader "$1" "$p" $((p % 3 + 1)); done
}

# "PARTITIONS LOW_SUM HIGH_SUM" of a topic (kafka-python asks the brokers for watermarks).
watermarks() {
  "$py" - "$bootstrap" "$1" <<'EOF'
import sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(','))
parts = [TopicPartition(sys.argv[2], p) for p in sorted(c.partitions_for_topic(sys.argv[2]) or [])]
low, high = c.beginning_offsets(parts), c.end_offsets(parts)
print(len(parts), sum(low.values()), sum(high.values()))
c.close()
EOF
} 2>>"$work/watermarks.err" # a run stopped by a signal ends the rig under it: no traceback
# Number of records a spate summary line reports ("spate produce: 200,000 records in ...").
summary_count() {
  sed -n "s/^spate $1: \([0-9,]*\) records in .*/\1/p" "$2" | tr -d , | tail -1
}

# kafka-python producer: sends the first COUNT lines of FILE (key and value), prints seconds
# from creating the KafkaProducer to the end of flush() (interpreter start-up and reading the
# file not counted). MODE tutorial: the tutorial stack's own settings; tuned: ours.
cat >"$work/kp_produce.py" <<'EOF'
import sys, time
from kafka import KafkaProducer
bootstrap, topic, path, count, mode, compression = sys.argv[1:7]
records = []
with open(path, 'rb') as f:
    for line in f:
        key, value = line.rstrip(b'\n').split(b'\t', 1)
        records.append((key, value))
        if len(records) == int(count):
            break
started = time.monotonic()
if mode == 'tutorial':
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(','), max_block_ms=5000)
else:
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(','), acks='all', linger_ms=5,
                             batch_size=1048576,
                             compression_type=None if compression == 'none' else compression)
for key, value in records:
    producer.send(topic, key=key, value=value)
producer.flush()
print(f'{time.monotonic() - started:.3f}')
producer.close()
EOF
if "$py" -c 'import lz4.frame' 2>/dev/null; then
  py_compression=lz4
else
  py_compression=none # python3-lz4 is not installed; kafka-python cannot send lz4 without it
fi

# Runs a command and writes "PEAK_RSS_KB CPU_SECONDS" (user + system) to the file $1:
# /usr/bin/time where installed, else getrusage in python3 (as bench/run.sh does).
measured() {
  local out=$1
  shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%M %U %S' -o "$out.raw" "$@"
    awk '{ printf "%d %.2f\n", $1, $2 + $3 }' "$out.raw" >"$out"
  else
    "$py" -c '
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_maxrss} {r.ru_utime + r.ru_stime:.2f}\n")
sys.exit(code)' "$out" "$@"
  fi
}
cpu_of() { cut -d' ' -f2 "$1"; }

# ---------------------------------------------------------------------------------------------
section "1. produce: $produce_count records (kafka-python: $py_count), $rounds rounds, interleaved"
# The mock keeps ~5 MB per partition (~15,000 of these records with lz4) and drops the oldest,
# so the scratch topic that must hold all the records gets one partition per 5,000.
scratch_partitions=$(((produce_count + 4999) / 5000))
((scratch_partitions >= 6)) || scratch_partitions=6
make_topic scratch "$scratch_partitions"
"$spate" produce --brokers "$bootstrap" --topic scratch --count "$produce_count" --seed "$seed" \
  --progress never --log-level warn 2>"$work/scratch.log" ||
  failed "spate produce (scratch topic)" "$work/scratch.log"
records=$work/records.tsv
kcat -C -b "$bootstrap" -t scratch -o beginning -e -q -f '%k\t%s\n' >"$records" ||
  die "kcat -C (dumping the scratch topic) failed"
lines=$(wc -l <"$records")
bad=$(awk -F'\t' 'NF != 2 || length($1) != 36' "$records" | wc -l)
[[ $lines -eq $produce_count && $bad -eq 0 ]] ||
  die "scratch dump has $lines lines ($bad malformed), expected $produce_count"
echo "records: $lines key<TAB>value lines, $(($(wc -c <"$records") / 1000000)) MB," \
  "from spate produce --seed $seed"
echo "kcat -P settings: ${producer_settings[*]}"
echo "kafka-python: the tutorial's KafkaProducer(bootstrap_servers=..., max_block_ms=5000);" \
  "tuned: acks=all linger_ms=5 batch_size=1048576 compression=$py_compression" \
  "(kafka-python has no idempotent producer)"

spate_produce_rates=()
kcat_produce_rates=()
spate_produce_cpu=()
kcat_produce_cpu=()
py_produce_rates=()
py_tuned_rates=()
kcat_x=()
for s in "${producer_settings[@]}"; do kcat_x+=(-X "$s"); done
for ((r = 1; r <= rounds; r++)); do
  for tool in spate kcat py-tutorial py-tuned; do make_topic "produce-$tool-$r" 6; done

  t0=$EPOCHREALTIME
  measured "$work/m" "$spate" produce --brokers "$bootstrap" --topic "produce-spate-$r" \
    --count "$produce_count" --seed "$seed" --progress never --log-level warn \
    2>"$work/produce-spate-$r.log" || failed "spate produce" "$work/produce-spate-$r.log"
  secs=$(since "$t0")
  spate_produce_cpu+=("$(cpu_of "$work/m")")
  sent=$(summary_count produce "$work/produce-spate-$r.log")
  read -r _ _ high < <(watermarks "produce-spate-$r") || true
  [[ $sent == "$produce_count" && $high == "$produce_count" ]] ||
    die "spate produce: $sent reported, $high in the topic, expected $produce_count"
  spate_produce_rates+=("$(calc "round($produce_count / $secs)")")

  t0=$EPOCHREALTIME
  measured "$work/m" kcat -P -b "$bootstrap" -t "produce-kcat-$r" -K $'\t' "${kcat_x[@]}" \
    -l "$records" || die "kcat -P failed"
  ksecs=$(since "$t0")
  kcat_produce_cpu+=("$(cpu_of "$work/m")")
  read -r _ _ high < <(watermarks "produce-kcat-$r") || true
  [[ $high == "$produce_count" ]] || die "kcat -P: $high records in the topic, expected $produce_count"
  kcat_produce_rates+=("$(calc "round($produce_count / $ksecs)")")

  for mode in tutorial tuned; do
    psecs=$("$py" "$work/kp_produce.py" "$bootstrap" "produce-py-$mode-$r" "$records" \
      "$py_count" "$mode" "$py_compression") || die "the kafka-python producer ($mode) failed"
    read -r _ _ high < <(watermarks "produce-py-$mode-$r") || true
    [[ $high == "$py_count" ]] ||
      die "kafka-python ($mode): $high records in the topic, expected $py_count"
    if [[ $mode == tutorial ]]; then
      py_produce_rates+=("$(calc "round($py_count / $psecs)")")
    else
      py_tuned_rates+=("$(calc "round($py_count / $psecs)")")
    fi
  done

  printf 'round %d: spate %6s rec/s (%s s, CPU %s s)   kcat -P %6s rec/s (%s s, CPU %s s)' \
    "$r" "${spate_produce_rates[-1]}" "$secs" "${spate_produce_cpu[-1]}" \
    "${kcat_produce_rates[-1]}" "$ksecs" "${kcat_produce_cpu[-1]}"
  printf '   kafka-python %s rec/s (tuned %s)   spate/kcat %s\n' "${py_produce_rates[-1]}" \
    "${py_tuned_rates[-1]}" \
    "$(calc "f'{${spate_produce_rates[-1]} / ${kcat_produce_rates[-1]} * 100:.0f}%'")"
done
spate_produce=$(median "${spate_produce_rates[@]}")
kcat_produce=$(median "${kcat_produce_rates[@]}")
py_produce=$(median "${py_produce_rates[@]}")
py_tuned=$(median "${py_tuned_rates[@]}")
produce_vs_kcat=$(calc "$spate_produce / $kcat_produce")
produce_vs_py=$(calc "$spate_produce / $py_produce")
kcat_vs_py=$(calc "$kcat_produce / $py_produce")
produce_vs_py_tuned=$(calc "$spate_produce / $py_tuned")
echo "medians: spate $spate_produce, kcat -P $kcat_produce, kafka-python $py_produce" \
  "(tuned $py_tuned) rec/s;" \
  "CPU (user+sys) spate $(median "${spate_produce_cpu[@]}") s, kcat -P $(median "${kcat_produce_cpu[@]}") s"

# ---------------------------------------------------------------------------------------------
section "2. process: $read_count records, $read_partitions partitions, $rounds rounds"
make_topic read "$read_partitions"
t0=$EPOCHREALTIME
"$spate" produce --brokers "$bootstrap" --topic read --count "$read_count" --seed "$seed" \
  --progress never --log-level warn 2>"$work/read-produce.log" ||
  failed "spate produce (topic read)" "$work/read-produce.log"
echo "spate produce into it: $(since "$t0") s"
read -r parts low high < <(watermarks read) || true
[[ $parts == "$read_partitions" && $low == 0 && $high == "$read_count" ]] ||
  die "topic read: $parts partitions, low watermarks sum $low, high $high; expected" \
    "$read_partitions, 0, $read_count (raise READ_PARTITIONS: the mock drops data past ~5 MB)"
echo "topic read: $high records, low watermarks all 0 (all readable)"

# Epoch seconds of the first line of a spate log that says its partitions are assigned:
# "kafka: assigned" (a group member) or "kafka: reading ... without a consumer group"
# (spdlog prints local time).
assigned_at() {
  "$py" - "$1" <<'EOF'
import re, sys
from datetime import datetime
for line in open(sys.argv[1]):
    m = re.match(r'\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\] \[\w+\] kafka: (assigned|reading)', line)
    if m:
        print(datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S.%f').timestamp())
        break
EOF
}

kcat_read_rates=()
spate_wall_rates=()
spate_assigned_rates=()
join_waits=()
rss_kbs=()
spate_process_cpu=()
kcat_read_cpu=()
run_kcat_read() {
  local t0 n
  t0=$EPOCHREALTIME
  measured "$work/m" kcat -C -b "$bootstrap" -t read -o beginning -e -q -f '\n' \
    >"$work/kcat-read.out" || die "kcat -C failed"
  kcat_secs=$(since "$t0")
  kcat_read_cpu+=("$(cpu_of "$work/m")")
  n=$(wc -l <"$work/kcat-read.out")
  [[ $n == "$read_count" ]] || die "kcat -C read $n records, expected $read_count"
  kcat_read_rates+=("$(calc "round($read_count / $kcat_secs)")")
}
run_spate_process() {
  local log=$work/process-$1.log t0 t1 got assigned
  t0=$EPOCHREALTIME
  measured "$work/rss-$1" "$spate" process --brokers "$bootstrap" --topic read \
    --sink discard --exit-at-end --progress never \
    --data-dir "$work/data-$1" 2>"$log" || failed "spate process" "$log"
  t1=$EPOCHREALTIME
  got=$(summary_count process "$log")
  [[ $got == "$read_count" ]] || die "spate process read ${got:-?} records, expected $read_count"
  assigned=$(assigned_at "$log") || true
  [[ -n $assigned ]] || die "no 'kafka: assigned' or 'kafka: reading' line in the spate process log"
  spate_secs=$(calc "f'{$t1 - $t0:.3f}'")
  spate_after=$(calc "f'{$t1 - $assigned:.3f}'")
  join_waits+=("$(calc "f'{$assigned - $t0:.3f}'")")
  spate_wall_rates+=("$(calc "round($read_count / $spate_secs)")")
  spate_assigned_rates+=("$(calc "round($read_count / $spate_after)")")
  rss_kbs+=("$(cut -d' ' -f1 "$work/rss-$1")")
  spate_process_cpu+=("$(cpu_of "$work/rss-$1")")
}
for ((r = 1; r <= rounds; r++)); do
  # Alternate which goes first, so neither always gets the warmer (or quieter) minute.
  if ((r % 2)); then
    run_kcat_read
    run_spate_process "$r"
  else
    run_spate_process "$r"
    run_kcat_read
  fi
  printf 'round %d: kcat -C %6s rec/s (%s s, CPU %s s)   spate process %6s rec/s wall (%s s),' \
    "$r" "${kcat_read_rates[-1]}" "$kcat_secs" "${kcat_read_cpu[-1]}" "${spate_wall_rates[-1]}" \
    "$spate_secs"
  printf ' %6s rec/s from assignment (%s s; join %s s; CPU %s s; peak RSS %s kB)' \
    "${spate_assigned_rates[-1]}" "$spate_after" "${join_waits[-1]}" "${spate_process_cpu[-1]}" \
    "${rss_kbs[-1]}"
  printf '   spate (from assignment)/kcat %s\n' \
    "$(calc "f'{${spate_assigned_rates[-1]} / ${kcat_read_rates[-1]} * 100:.0f}%'")"
done
kcat_read=$(median "${kcat_read_rates[@]}")
spate_wall=$(median "${spate_wall_rates[@]}")
spate_assigned=$(median "${spate_assigned_rates[@]}")
process_wall_ratio=$(calc "$spate_wall / $kcat_read")
process_ratio=$(calc "$spate_assigned / $kcat_read")
rss_max_kb=$(printf '%s\n' "${rss_kbs[@]}" | sort -n | tail -1)
echo "medians: kcat -C $kcat_read, spate process $spate_wall (wall), $spate_assigned" \
  "(from assignment) rec/s; start-up to assignment median $(median "${join_waits[@]}") s;" \
  "CPU (user+sys) spate $(median "${spate_process_cpu[@]}") s, kcat -C $(median "${kcat_read_cpu[@]}") s"

# ---------------------------------------------------------------------------------------------
produce_kcat_ok=$(verdict "$produce_vs_kcat >= 0.8")
produce_py_ok=$(verdict "$produce_vs_py >= 50")
process_ok=$(verdict "$process_ratio >= 0.8")
rss_ok=$(verdict "$rss_max_kb * 1024 < 150e6")
pct() { calc "f'{$1 * 100:.1f}%'"; }

section "Kafka summary ($((SECONDS - started)) s, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
row() { printf '%-52s %18s %10s %s\n' "$@"; }
row "target" "measured" "goal" ""
row "produce: spate / kcat -P (median rec/s)" "$(pct "$produce_vs_kcat")" ">= 80%" "$produce_kcat_ok"
row "produce: spate / kafka-python, tutorial's settings" "$(calc "f'{$produce_vs_py:.1f}x'")" ">= 50x" \
  "$produce_py_ok"
row "produce: spate / kafka-python, tuned" "$(calc "f'{$produce_vs_py_tuned:.1f}x'")" \
  "(reported)" ""
row "produce: kcat -P / kafka-python, tutorial's" "$(calc "f'{$kcat_vs_py:.1f}x'")" \
  "(reported)" ""
row "process: spate from assignment / kcat -C (median)" "$(pct "$process_ratio")" ">= 80%" \
  "$process_ok"
row "process: spate wall clock / kcat -C (median)" "$(pct "$process_wall_ratio")" "(reported)" ""
row "peak RSS, spate process, $read_count records" \
  "$(calc "f'{$rss_max_kb * 1024 / 1e6:.1f} MB'")" "< 150 MB" "$rss_ok"
row "median rec/s: spate produce / kcat -P" "$spate_produce / $kcat_produce" "" ""
row "  kafka-python: tutorial's / tuned (lz4: $py_compression)" "$py_produce / $py_tuned" "" ""
row "  spate process wall / from assignment" "$spate_wall / $spate_assigned" "" ""
row "  kcat -C" "$kcat_read" "" ""
[[ "$produce_kcat_ok $produce_py_ok $process_ok $rss_ok" != *MISSED* ]] || exit 1
