#!/usr/bin/env python3
# Regenerates the synthetic fixtures of this directory (seeded): `python3 make_fixtures.py`.
# The importer tests assert on these files, so rerun the tests after regenerating.
import json, os, random, math
root = os.path.dirname(os.path.abspath(__file__))
crit = os.path.join(root, "criterion")
rng = random.Random(5)

def E(point, se):
    return {"confidence_interval": {"confidence_level": 0.95, "lower_bound": round(point - 1.96*se, 4),
            "upper_bound": round(point + 1.96*se, 4)}, "point_estimate": point, "standard_error": se}

def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))

def slot(dirname, slotname, group, function, value, throughput, per_iter, n=10, mode="Linear"):
    full = "/".join(x for x in [group, function, value] if x)
    d = os.path.join(crit, dirname, slotname)
    write(os.path.join(d, "benchmark.json"), {"group_id": group, "function_id": function, "value_str": value,
        "throughput": throughput, "full_id": full, "directory_name": dirname, "title": full})
    step = max(1, int(2e6 / per_iter / (n*(n+1)/2)))
    if mode == "Linear":
        iters = [float(step*(i+1)) for i in range(n)]
    else:
        iters = [float(step*5)] * n
    times = [round(it * per_iter * (1 + rng.gauss(0, 0.01)), 1) for it in iters]
    write(os.path.join(d, "sample.json"), {"sampling_mode": mode, "iters": iters, "times": times})
    avgs = sorted(t/i for t, i in zip(times, iters))
    mean = sum(avgs)/len(avgs)
    med = (avgs[n//2-1]+avgs[n//2])/2
    sd = math.sqrt(sum((a-mean)**2 for a in avgs)/(n-1))
    mad = sorted(abs(a-med) for a in avgs)[n//2]*1.4826
    write(os.path.join(d, "estimates.json"), {"mean": E(round(mean,4), round(sd/math.sqrt(n),4)),
        "median": E(round(med,4), round(sd/math.sqrt(n),4)), "median_abs_dev": E(round(mad,4), round(mad/3,4)),
        "slope": E(round(mean,4), round(sd/math.sqrt(n),4)) if mode == "Linear" else None,
        "std_dev": E(round(sd,4), round(sd/3,4))})
    write(os.path.join(d, "tukey.json"), [avgs[0]*0.9, avgs[0]*0.95, avgs[-1]*1.05, avgs[-1]*1.1])
    return avgs

# logits mask: base and new, +3 % on new
for s, f in [("base", 1.0), ("new", 1.03)]:
    slot("cpu_logits_mask/f32/v32000", s, "cpu/logits_mask", "f32", "v32000", {"Bytes": 132000}, 1234.5*f)
write(os.path.join(crit, "cpu_logits_mask/f32/v32000/change/estimates.json"),
      {"mean": E(0.0301, 0.002), "median": E(0.0297, 0.002)})
for s in ["base", "new"]:
    slot("cpu_sampling/top_k", s, "cpu/sampling", "top_k", None, {"Elements": 32000}, 48210.0, mode="Flat")
    slot("sentinel/noop", s, "sentinel", "noop", None, None, 812.0)
slot("cpu_paged_attention/f32/b8_h32_d128_ctx2048", "new", "cpu/paged_attention", "f32", "b8_h32_d128_ctx2048",
     {"Elements": 8}, 251000.0)
os.makedirs(os.path.join(crit, "report"), exist_ok=True)
open(os.path.join(crit, "report/index.html"), "w").write("<html><body>criterion report</body></html>\n")
os.makedirs(os.path.join(crit, "cpu_logits_mask/f32/v32000/report"), exist_ok=True)
open(os.path.join(crit, "cpu_logits_mask/f32/v32000/report/index.html"), "w").write("<html></html>\n")

# CSV: 16 blocks, 5 % slower logits mask, flat sampling, sentinel, counters
lines = ["# 16 ABBA blocks of the kernels suite (synthetic, seeded)", "benchmark,side,block,value,metric"]
for b in range(16):
    env = 1 + rng.gauss(0, 0.01)
    for side in ["base", "head"]:
        noise = lambda: 1 + rng.gauss(0, 0.003)
        f = 1.05 if side == "head" else 1.0
        lines.append(f"cpu/logits_mask/f32/v32000,{side},{b},{1234.5*f*env*noise():.1f},time_ns")
        lines.append(f"cpu/sampling/top_k,{side},{b},{48.21*env*noise():.4f},time_us")
        lines.append(f"sentinel/noop,{side},{b},{812.0*env*noise():.1f},time_ns")
    lines.append(f"cpu/sampling/top_k,base,{b},4096,bytes_moved")
    lines.append(f"cpu/sampling/top_k,head,{b},4096,bytes_moved")
    lines.append(f"cpu/sampling/top_k,base,{b},3,allocations")
    lines.append(f"cpu/sampling/top_k,head,{b},5,allocations")
open(os.path.join(root, "blocks.csv"), "w").write("\n".join(lines) + "\n")

# A/B run record: 14 blocks, nothing changed
machine = {"arch": "x86_64", "cpu_model": "AMD EPYC 7763 64-Core Processor", "isa": ["avx", "avx2", "fma", "sse42"],
           "logical_cores": 2, "kernel": "6.8", "toolchain": "rustc 1.95.0 (f2d3ce0bd 2026-03-21)"}
samples = []
for b in range(14):
    env = 1 + rng.gauss(0, 0.01)
    for side in ["base", "head"]:
        for bench, t in [("cpu/logits_mask/f32/v32000", 1.2345), ("sentinel/noop", 0.812)]:
            samples.append({"benchmark": bench, "metric": "time", "unit": "us", "side": side, "block": b,
                            "values": [round(t*env*(1+rng.gauss(0, 0.004)), 5) for _ in range(5)]})
        samples.append({"benchmark": "cpu/logits_mask/f32/v32000", "metric": "bytes_moved", "unit": "bytes",
                        "side": side, "block": b, "values": [132000.0]})
record = {"schema_version": 1, "suite": "kernels", "id": "2026-05-01T12-00-00-ab12cd", "created_unix_s": 1777636800,
          "machine": machine, "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False,
          "branch": "main"}, "config": {"blocks": 14, "order": "abba", "seed": 7}, "seed": 7,
          "health": {"steal_time_fraction": 0.004, "flags": []}, "samples": samples}
with open(os.path.join(root, "run_ab.json"), "w") as f:
    json.dump(record, f, indent=1)
    f.write("\n")
