#!/usr/bin/env bash
# Real-time figures of issue 18: the cost of --http (metrics, dashboard, a scraper), ingest ->
# stored latency at 10,000 records/s (memory transport and the Kafka mock cluster, into
# SQLite), and --rate achieved vs asked. bench/run.sh calls it; it also runs on its own:
#
#   bench/realtime.sh BUILD_DIR      e.g. bench/realtime.sh build/release (a Release build)
#
# The work is in bench/realtime.py (what each part measures, its targets and environment
# variables are listed at its top). Exits 1 if a target was missed, 2 if a part could not run.
# Figures and how to read them: docs/benchmarks.md, section "Real time".
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/realtime.py" "$@"
