#!/usr/bin/env bash
# The performance regression gate as a PR check runs it:
#   ci/bench-gate.sh BASE HEAD [extra `dyno regress run` flags...]
# e.g. ci/bench-gate.sh origin/main HEAD, or ci/bench-gate.sh HEAD HEAD --suite gate --quick (A/A smoke).
# Builds both revisions in git worktrees, measures them in interleaved blocks, writes the report to
# target/bench-gate/ (and $GITHUB_STEP_SUMMARY when set) and exits with the gate's code:
#   0 no regression, 1 regression, 2 error, 3 inconclusive (retry the job; never a failure).
# Environment: DYNO_GATE_SUITE (default kernels), DYNO_GATE_BLOCKS (default 8),
# DYNO_GATE_BENCH (criterion filter, default all), DYNO_GATE_RETRIES (re-runs on exit 3, default 1).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: ci/bench-gate.sh BASE HEAD [dyno regress run flags...]" >&2
  exit 2
fi
base=$1 head=$2
shift 2
out=target/bench-gate
mkdir -p "$out"
cargo build --locked --release -p dyno || exit 2
args=(regress run --base "$base" --head "$head"
      --suite "${DYNO_GATE_SUITE:-kernels}" --blocks "${DYNO_GATE_BLOCKS:-8}"
      --json "$out/report.json" --markdown "$out/report.md" --record "$out/record.json")
if [ -n "${DYNO_GATE_BENCH:-}" ]; then args+=(--bench "$DYNO_GATE_BENCH"); fi
retries=${DYNO_GATE_RETRIES:-1}
attempt=0
while :; do
  start=$(date +%s)
  target/release/dyno "${args[@]}" "$@"
  code=$?
  echo "bench-gate: exit $code after $(( $(date +%s) - start )) s (attempt $(( attempt + 1 )))" >&2
  if [ "$code" -ne 3 ] || [ "$attempt" -ge "$retries" ]; then
    exit "$code"
  fi
  attempt=$(( attempt + 1 ))
  echo "bench-gate: inconclusive (sentinel or steal time); measuring again" >&2
done
