#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: `bash ci/test.sh`). Installs what it needs.
# Steps: fmt, clippy (CUDA code included), tests, the openai Python package against `dyno serve`,
# NVRTC compile of every CUDA kernel for sm_90, docs with warnings denied, a benchmark smoke run
# (each criterion bench once), crate boundaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "toolchain"
rustup show active-toolchain
rustup component list --installed 2>/dev/null | grep -E '^(rustfmt|clippy)' || rustup component add rustfmt clippy

step "NVRTC from PyPI (for the sm_90 compile check; no GPU needed)"
# 13.0.x matches the CUDA 13.0 driver (580) of the lent H100s: newer NVRTC emits PTX that driver cannot load.
NVRTC_VERSION=13.0.88
venv=.venv-ci
if [ ! -x "$venv/bin/pip" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "nvidia-cuda-nvrtc==$NVRTC_VERSION"
nvrtc_dir=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
test -e "$nvrtc_dir/libnvrtc.so.13" || { echo "libnvrtc.so.13 not found under $nvrtc_dir"; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --locked --workspace

step "openai Python package against dyno serve (completions, chat, streams)"
"$venv/bin/pip" install --quiet --disable-pip-version-check openai
serve_out=$(mktemp)
DYNO_API_KEY=ci-key target/debug/dyno serve --port 0 --max-num-seqs 16 >"$serve_out" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
serve_url=""
for _ in $(seq 1 100); do
  serve_url=$(grep -o 'http://[0-9.:]*' "$serve_out" | head -n1 || true)
  [ -n "$serve_url" ] && break
  sleep 0.1
done
[ -n "$serve_url" ] || { echo "dyno serve printed no address"; exit 1; }
DYNO_API_KEY=ci-key timeout 120 "$venv/bin/python" cli/tests/openai_client.py "$serve_url"
kill -TERM "$serve_pid"
serve_code=0
wait "$serve_pid" || serve_code=$?
trap - EXIT
rm -f "$serve_out"
[ "$serve_code" -eq 0 ] || { echo "dyno serve exited $serve_code after SIGTERM (want 0)"; exit 1; }

step "NVRTC: every kernel source compiles for sm_90"
LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  cargo test --locked -p dyno-kernels --test nvrtc_compile -- --ignored --nocapture

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

step "benchmark smoke run (each bench executed once)"
DYNO_BENCH_PROFILE=quick cargo bench --locked -p dyno-benches -- --test

step "regression gate smoke (A/A on two benchmarks in lock-step: exit 0 or 3, never 1)"
# Same binary on both sides, taking turns in shuffled order: the A/A log-ratios are symmetric by
# construction, so a false fail has probability <= q. The smoke uses q = 0.001 (one CI run in a
# thousand, not one in a hundred); the PR gate keeps q = 0.01.
gate_code=0
DYNO_GATE_SUITE=gate DYNO_GATE_BLOCKS=8 DYNO_GATE_RETRIES=0 \
DYNO_GATE_BENCH='logits_mask/f32/b1_v32000_allowed0\.5|bandwidth_read' \
  ci/bench-gate.sh HEAD HEAD --interleave lockstep --q 0.001 || gate_code=$?
case $gate_code in
  0|3) echo "gate smoke: exit $gate_code (0 = pass, 3 = inconclusive on a noisy machine)";;
  *) echo "gate smoke: exit $gate_code: an A/A gate run must never report a regression or fail"; exit 1;;
esac

step "crate boundaries"
ci/check-boundaries.sh

step "all checks passed"
