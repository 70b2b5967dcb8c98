#!/usr/bin/env bash
# The one prepared script for a lent GPU (see DEVELOPERS.md): build, check every CUDA kernel
# against the CPU reference, time the CUDA benches, print a short table, write everything under
# $OUT. It FAILS (never skips) when no CUDA device can be used.
#
# Run through the device tool from the repository root, e.g.
#   run(command="bash ci/gpu-check.sh", timeout_s=540)
# NVRTC: the script uses a system libnvrtc if the machine has one; otherwise it needs PyPI's
# nvidia-cuda-nvrtc (13.0.x, matching driver 580 / CUDA 13.0), e.g. the `.venv-ci` that
# `ci/test.sh` creates, carried along (`carry: [".venv-ci"]` is ~220 MB: too large for the
# 64 MiB carry limit, so prefer `bash ci/gpu-prepare-nvrtc.sh`, which packs just libnvrtc into
# `.gpu-carry/`, and carry that).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
log() { printf '\n== %s\n' "$*" | tee -a "$OUT/gpu-check.log"; }
fail=0

log "device"
if ! nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.csv"; then
  echo "FAIL: nvidia-smi found no GPU" | tee -a "$OUT/gpu-check.log"
  exit 1
fi

log "NVRTC"
nvrtc_dir=""
for d in ${LD_LIBRARY_PATH//:/ } /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu \
         .gpu-carry/nvrtc .venv-ci/lib/python3.11/site-packages/nvidia/cu13/lib; do
  if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then nvrtc_dir=$d; break; fi
done
if [ -z "$nvrtc_dir" ] && [ -f .gpu-carry/nvrtc.tar.xz ]; then
  mkdir -p .gpu-carry/nvrtc && tar -xJf .gpu-carry/nvrtc.tar.xz -C .gpu-carry/nvrtc && nvrtc_dir=.gpu-carry/nvrtc
fi
if [ -z "$nvrtc_dir" ]; then
  echo "FAIL: no libnvrtc on this machine and none carried (.gpu-carry/nvrtc.tar.xz)" | tee -a "$OUT/gpu-check.log"
  exit 1
fi
export LD_LIBRARY_PATH="$(cd "$nvrtc_dir" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "libnvrtc from $nvrtc_dir" | tee -a "$OUT/gpu-check.log"

log "build (release)"
if ! command -v cargo >/dev/null; then
  echo "FAIL: no cargo on the device machine" | tee -a "$OUT/gpu-check.log"
  exit 1
fi
cargo build --release --locked -p dyno-kernels --tests 2>&1 | tail -3

log "CUDA parity tests (ignored in normal runs)"
for t in kernels/tests/parity_cuda_*.rs; do
  name=$(basename "$t" .rs)
  if cargo test --release --locked -p dyno-kernels --test "$name" -- --ignored 2>&1 | tee "$OUT/$name.txt" | tail -5; then :; fi
  grep -q "test result: ok" "$OUT/$name.txt" || { echo "FAIL: $name" | tee -a "$OUT/gpu-check.log"; fail=1; }
done

log "CUDA benches (quick profile)"
DYNO_BENCH_PROFILE=quick cargo bench --locked -p dyno-benches --bench kernels -- 'cuda/' 2>&1 \
  | tee "$OUT/bench.txt" | grep -E '^(cuda/|Benchmarking cuda)|time:' | grep -v Warming | tail -40
cargo run --release --locked -q -p dyno-benches --bin roofline > "$OUT/roofline.md" 2>&1 || true
grep -E '^\| `cuda/|^\| H100' "$OUT/roofline.md" || true
mkdir -p "$OUT/criterion" && cp -r target/criterion/*cuda* "$OUT/criterion/" 2>/dev/null || true

log "result: $([ $fail = 0 ] && echo PASS || echo FAIL) ($(date -u +%F), $(head -2 "$OUT/device.csv" | tail -1))"
exit $fail
