#!/usr/bin/env bash
# Runs one libFuzzer binary for a while, starting from its checked-in seed corpus.
#   run_fuzzer.sh FUZZER SEED_CORPUS_DIR SECONDS WORK_DIR
# The corpus it grows goes to WORK_DIR/corpus (kept between runs, so `make fuzz` builds on
# earlier runs); the seed corpus in the repository is only read. A crash or a broken invariant
# leaves the input in WORK_DIR/artifacts and fails (libFuzzer exits non-zero).
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 work=$4
name=$(basename "$fuzzer")
mkdir -p "$work/corpus/$name" "$work/artifacts"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
  "$work/corpus/$name" "$seeds"
