"""Checks for ci/interop.sh: read result files of `dyno bench serve` and `vllm bench serve`, and
compare greedy completions of two servers. Standard library only.

Every check prints one line, `PASS name: detail` or `FAIL name: detail`, and exits 0 or 1.

  check.py result NAME FILE --completed N [--output-tokens N] [--input-tokens N] [--source S]
  check.py info NAME FILE                                 # INFO line: counts and the first error
  check.py accuracy FILE [--stats MOCK_STATS] [--time TIME_FILE]   # one JSON line of timing errors
  check.py greedy NAME --a URL MODEL --b URL MODEL [--prompt P] [--max-tokens N]
  check.py port                                           # a free loopback port
  check.py fetch URL FILE                                 # save a GET response
"""

import argparse
import json
import math
import socket
import sys
import urllib.request


def verdict(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
    return 0 if ok else 1


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    # --append-result files hold one JSON object per line: the last run is the one checked
    return json.loads(text.splitlines()[-1] if text.startswith("{") and "\n{" in text else text)


def cmd_result(a):
    r = load(a.file)
    problems = []
    completed, failed = r.get("completed"), r.get("failed", 0)
    if completed != a.completed or failed:
        problems.append(f"completed {completed} failed {failed} (want {a.completed} and 0)")
    out = r.get("total_output_tokens")
    if a.output_tokens is not None and out != a.output_tokens:
        problems.append(f"total_output_tokens {out} (want {a.output_tokens})")
    inp = r.get("total_input_tokens")
    if a.input_tokens is not None and inp != a.input_tokens:
        problems.append(f"total_input_tokens {inp} (want {a.input_tokens})")
    tpot = r.get("mean_tpot_ms") or 0.0
    if not tpot > 0:
        problems.append(f"mean_tpot_ms {tpot} (want > 0)")
    source = r.get("output_token_source")
    if a.source is not None and source != a.source:
        problems.append(f"output_token_source {source!r} (want {a.source!r})")
    detail = (f"completed {completed}, output tokens {out}, TTFT {r.get('mean_ttft_ms', 0):.2f} ms, "
              f"TPOT {tpot:.2f} ms, ITL {r.get('mean_itl_ms', 0):.2f} ms")
    if source is not None:
        detail += f", token count from {source} (tokenizer: {r.get('tokenizer_source')})"
    if problems:
        detail += "; " + "; ".join(problems)
    return verdict(a.name, not problems, detail)


def cmd_info(a):
    r = load(a.file)
    errors = [e for e in (r.get("errors") or []) if e]
    detail = (f"completed {r.get('completed')}, failed {r.get('failed')}, output tokens "
              f"{r.get('total_output_tokens')}, TTFT {r.get('mean_ttft_ms', 0):.2f} ms, "
              f"TPOT {r.get('mean_tpot_ms', 0):.2f} ms")
    if errors:
        detail += f"; first error: {errors[0].strip().splitlines()[-1][:300]!r}"
    print(f"INFO {a.name}: {detail}")
    return 0


def cmd_accuracy(a):
    r = load(a.file)
    errors = r.get("errors") or [""] * len(r["ttfts"])
    ok = [i for i, t in enumerate(r["ttfts"]) if t and t > 0 and not errors[i]]
    ttfts = [r["ttfts"][i] * 1e3 for i in ok]
    itls = sorted(x * 1e3 for i in ok for x in r["itls"][i])
    mean_itl = sum(itls) / len(itls)
    sd = math.sqrt(sum((x - mean_itl) ** 2 for x in itls) / len(itls))  # as ci/client_accuracy.py
    p99 = itls[min(len(itls) - 1, math.ceil(0.99 * len(itls)) - 1)]
    row = {
        "completed": r.get("completed"), "failed": r.get("failed"),
        "ttft_err_ms": round(sum(ttfts) / len(ttfts) - a.ttft_ms, 2),
        "itl_err_ms": round(mean_itl - a.itl_ms, 3), "itl_p99_ms": round(p99, 2),
        "itl_sd_ms": round(sd, 2), "output_tokens": r.get("total_output_tokens"),
    }
    if r.get("mean_http_connect_ms") is not None:
        row["connect_ms"] = round(r["mean_http_connect_ms"], 2)
    if a.stats:
        # the mock's own lateness, so that server lateness is not blamed on the client
        with open(a.stats, encoding="utf-8") as f:
            st = json.load(f)
        row["mock_late_first_ms"] = round(st["first_chunk"]["mean_ms"], 3)
        row["mock_late_later_p99_ms"] = round(st["later_chunks"]["p99_ms"], 3)
    if a.time:
        # /usr/bin/time -f "%U %S %M": user s, system s, peak RSS KiB
        with open(a.time, encoding="utf-8") as f:
            user, system, rss = f.read().split()[-3:]
        row["client_cpu_s"] = round(float(user) + float(system), 2)
        row["client_rss_mb"] = round(int(rss) / 1024, 1)
    print(json.dumps(row))
    return 0


def complete(url, model, prompt, max_tokens):
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens,
                       "temperature": 0, "stream": False}).encode()
    req = urllib.request.Request(url.rstrip("/") + "/v1/completions", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())["choices"][0]["text"]


def cmd_greedy(a):
    ta = complete(a.a[0], a.a[1], a.prompt, a.max_tokens)
    tb = complete(a.b[0], a.b[1], a.prompt, a.max_tokens)
    # a shared prefix says how far two servers agree when they do not agree on all of it
    same = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
    detail = f"prompt {a.prompt!r}, {a.max_tokens} tokens: A {ta!r} | B {tb!r}"
    if ta != tb:
        detail += f" (first difference at character {same})"
    return verdict(a.name, ta == tb, detail)


def cmd_fetch(a):
    with urllib.request.urlopen(a.url, timeout=10) as resp, open(a.file, "wb") as f:
        f.write(resp.read())
    return 0


def cmd_port(_a):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("result")
    r.add_argument("name")
    r.add_argument("file")
    r.add_argument("--completed", type=int, required=True)
    r.add_argument("--output-tokens", type=int)
    r.add_argument("--input-tokens", type=int)
    r.add_argument("--source")
    inf = sub.add_parser("info")
    inf.add_argument("name")
    inf.add_argument("file")
    acc = sub.add_parser("accuracy")
    acc.add_argument("file")
    acc.add_argument("--ttft-ms", type=float, default=50.0)
    acc.add_argument("--itl-ms", type=float, default=10.0)
    acc.add_argument("--stats")
    acc.add_argument("--time")
    g = sub.add_parser("greedy")
    g.add_argument("name")
    g.add_argument("--a", nargs=2, metavar=("URL", "MODEL"), required=True)
    g.add_argument("--b", nargs=2, metavar=("URL", "MODEL"), required=True)
    g.add_argument("--prompt", default="Shall I compare thee to a summer's day?")
    g.add_argument("--max-tokens", type=int, default=32)
    sub.add_parser("port")
    fe = sub.add_parser("fetch")
    fe.add_argument("url")
    fe.add_argument("file")
    a = p.parse_args()
    return {"result": cmd_result, "accuracy": cmd_accuracy, "greedy": cmd_greedy,
            "port": cmd_port, "fetch": cmd_fetch,
            "info": cmd_info}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
