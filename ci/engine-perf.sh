#!/usr/bin/env bash
# Engine figures of docs/perf/engine.md, in one run: batch-1 decode and 64-prompt throughput of
# the Qwen2.5-0.5B-shaped dummy model in f32 and bf16 (each result carries a memory-bandwidth
# probe taken in the same process), the built-in model's main job, and resident memory over a
# 10,000-request run.
#
# usage: ci/engine-perf.sh [OUT_DIR]   (default target/engine-perf; needs ../shared/data;
#        DYNO_BIN=path/to/dyno skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/engine-perf}
data=${DYNO_SHARED_DATA:-../shared/data}
qwen=$data/models/qwen05-shape
mkdir -p "$out"
dyno=${DYNO_BIN:-}
if [ -z "$dyno" ]; then
  cargo build --release -q -p dyno
  dyno=target/release/dyno
fi
export DYNO_LOG=warn

for dtype in float32 bfloat16; do
  for threads in 1 2; do
    # 128 decode steps after a 32-token prompt, batch 1: tokens/s = 128 / avg_latency.
    $dyno bench latency --model "$qwen" --load-format dummy --dtype $dtype --threads $threads \
      --batch-size 1 --input-len 32 --output-len 128 --num-iters-warmup 1 --num-iters 5 \
      --kv-cache-memory 256MiB --output-json "$out/decode_b1_${dtype}_t${threads}.json" >/dev/null
  done
  $dyno bench throughput --model "$qwen" --load-format dummy --dtype $dtype \
    --num-prompts 64 --input-len 128 --output-len 128 --kv-cache-memory 1GiB \
    --output-json "$out/throughput64_${dtype}.json" | tee "$out/throughput64_${dtype}.txt"
done
$dyno bench throughput --output-json "$out/tiny_main.json" | tee "$out/tiny_main.txt"
$dyno bench throughput --num-prompts 10000 --input-len 64 --output-len 32 \
  --output-json "$out/tiny_10k.json" | tee "$out/tiny_10k.txt"

python3 - "$out" <<'PY'
import json, sys, glob, os
out = sys.argv[1]
weights = {"float32": 4, "bfloat16": 2}
params = 24 * (896 * 896 * 2 + 896 * 128 * 2 + 3 * 896 * 4864) + 896 * 1024
for f in sorted(glob.glob(f"{out}/decode_b1_*.json")):
    v = json.load(open(f))
    dtype, t = os.path.basename(f)[10:-5].rsplit("_t", 1)
    tps = 128 / v["avg_latency"]
    bw = v["memory_read_bandwidth_gbs"]
    eff = tps * params * weights[dtype] / 1e9
    print(f"decode b1 {dtype:9} {t} thread(s): {tps:6.1f} tok/s  {eff:5.1f} GB/s of weights = {100 * eff / bw:3.0f} % of the {bw:.1f} GB/s probe")
for f in sorted(glob.glob(f"{out}/throughput64_*.json")) + [f"{out}/tiny_main.json", f"{out}/tiny_10k.json"]:
    v = json.load(open(f))
    print(f"{os.path.basename(f):28} {v['output_tokens_per_second']:8.1f} out tok/s  {v['tokens_per_second']:8.1f} tok/s  "
          f"bw {v['memory_read_bandwidth_gbs']:.1f} GB/s  rss MiB {v['resident_mib'][0]:.0f}->{v['resident_mib'][-1]:.0f}")
PY
