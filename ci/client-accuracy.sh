#!/usr/bin/env bash
# Client-accuracy benchmark (issue 4 §3): `dyno bench serve` against `dyno mock-server`, whose
# schedule is known exactly (TTFT 50 ms, ITL 10 ms, 100 tokens), at concurrency 1, 10, 100, 500
# and 1000. Prints a markdown table: mean TTFT error, mean ITL error, ITL p99 and standard
# deviation, client CPU seconds (user + sys) and peak RSS from /usr/bin/time -v, and the mock's
# CPU seconds and own write lateness (so server lateness is not blamed on the client).
#
#   bash ci/client-accuracy.sh                 # all five points
#   POINTS="1:50 100:200" bash ci/client-accuracy.sh
#   TOKENIZER=../shared/data/tokenizers/gpt2 bash ci/client-accuracy.sh   # local tokenizer
#   POINTS=1000:1000 WARMUPS=0 REPEAT=3 bash ci/client-accuracy.sh       # CPU without warm-ups, 3 runs
#   BIN=/tmp/dyno-old EXTRA="--worker-threads 1" bash ci/client-accuracy.sh   # another binary / flags
#
# WARMUPS: --num-warmups per point (default: the point's concurrency). WARMUP_LEN: their
# --warmup-output-len (default 1: they open the connections and fill the mock's batch without
# doubling the events the client reads; "full": copies of the first request, vLLM's way).
# REPEAT: runs per point
# (default 1; the table then shows each run and the medians). EXTRA: more `bench serve` flags.
# BIN: the binary to measure (default target/release/dyno, built first; a given BIN is not built).
#
# Results go to $OUT_DIR (default target/client-accuracy): per point the result JSON, the time
# report and the mock's stats; rows.jsonl and table.md at the top.
set -euo pipefail
cd "$(dirname "$0")/.."

POINTS=${POINTS:-"1:50 10:100 100:200 500:500 1000:1000"}
OUT_DIR=${OUT_DIR:-target/client-accuracy}
WARMUPS=${WARMUPS:-}
WARMUP_LEN=${WARMUP_LEN:-1}
REPEAT=${REPEAT:-1}
EXTRA=${EXTRA:-}
HELPER=ci/client_accuracy.py

die() { echo "client-accuracy: $*" >&2; exit 2; }

command -v python3 >/dev/null || die "python3 is needed for the table; install it"
if [[ ! -x /usr/bin/time ]]; then
    echo "client-accuracy: /usr/bin/time missing; installing the 'time' package" >&2
    if [[ $(id -u) -eq 0 ]]; then
        (apt-get update -qq && apt-get install -y -qq time) >/dev/null || die "apt-get install time failed; install GNU time"
    else
        sudo apt-get install -y -qq time >/dev/null || die "cannot install GNU time (needs root); install it"
    fi
fi
# 1000 concurrent connections on each side need more than the usual 1024 descriptors
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= 4096 )) || echo "client-accuracy: warning: ulimit -n is $(ulimit -n); c=1000 may run out of sockets" >&2

if [[ -z ${BIN:-} ]]; then
    BIN=target/release/dyno
    cargo build --release -p dyno
fi
[[ -x $BIN ]] || die "BIN=$BIN is not an executable"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT=$REPEAT: expected a positive number of runs per point"
[[ -z $WARMUPS || $WARMUPS =~ ^[0-9]+$ ]] || die "WARMUPS=$WARMUPS: expected a number of warm-up requests"
[[ $WARMUP_LEN == full || $WARMUP_LEN =~ ^[1-9][0-9]*$ ]] || die "WARMUP_LEN=$WARMUP_LEN: expected a number of tokens or \"full\""

help=$("$BIN" bench serve --help 2>&1) || die "\`dyno bench serve\` is not built yet (its --help failed): $help"
grep -q -- '--base-url' <<<"$help" || die "\`dyno bench serve\` has no --base-url flag yet; the client is not ready"
flag() { grep -q -- "$1[ ,=]" <<<"$help" && echo "$1" || echo "$2"; }
IN_FLAG=$(flag --random-input-len --input-len)
OUT_FLAG=$(flag --random-output-len --output-len)
grep -q -- "$IN_FLAG" <<<"$help" || die "\`dyno bench serve\` has neither --random-input-len nor --input-len"
extra=()
if [[ -n ${TOKENIZER:-} ]]; then extra+=(--tokenizer "$TOKENIZER"); fi
if [[ $WARMUP_LEN != full ]]; then
    grep -q -- '--warmup-output-len' <<<"$help" || die "this binary has no --warmup-output-len; set WARMUP_LEN=full"
    extra+=(--warmup-output-len "$WARMUP_LEN")
fi
# shellcheck disable=SC2206 # EXTRA is a list of flags, split on spaces on purpose
if [[ -n $EXTRA ]]; then extra+=($EXTRA); fi

mkdir -p "$OUT_DIR"
: >"$OUT_DIR/rows.jsonl"
mock_pid=
cleanup() { [[ -n $mock_pid ]] && kill "$mock_pid" 2>/dev/null || true; }
trap cleanup EXIT

for point in $POINTS; do
for run in $(seq "$REPEAT"); do
    c=${point%%:*}
    n=${point##*:}
    warmups=${WARMUPS:-$c}
    dir="$OUT_DIR/c$c"
    (( REPEAT > 1 )) && dir="$OUT_DIR/c$c-run$run"
    rm -rf "$dir" && mkdir -p "$dir"
    "$BIN" mock-server --port 0 --ttft-ms 50 --itl-ms 10 --output-len 100 \
        >"$dir/mock.out" 2>"$dir/mock.err" &
    mock_pid=$!
    url=
    for _ in $(seq 100); do
        url=$(sed -n 's/^dyno mock-server: listening on //p' "$dir/mock.out")
        [[ -n $url ]] && break
        kill -0 "$mock_pid" 2>/dev/null || die "the mock exited: $(cat "$dir/mock.err")"
        sleep 0.1
    done
    [[ -n $url ]] || die "the mock did not print its address within 10 s"
    echo "client-accuracy: c=$c n=$n warm-ups=$warmups run $run/$REPEAT against $url (load: $(cut -d" " -f1-3 /proc/loadavg))" >&2
    cmd=("$BIN" bench serve --backend openai --base-url "$url" --model mock
        --dataset-name random "$IN_FLAG" 32 "$OUT_FLAG" 100 --num-prompts "$n"
        --max-concurrency "$c" --request-rate inf --num-warmups "$warmups"
        --save-result --save-detailed --result-dir "$dir" --result-filename result.json
        "${extra[@]}")
    echo "${cmd[*]}" >"$dir/command.txt"
    if ! /usr/bin/time -v -o "$dir/time.txt" "${cmd[@]}" >"$dir/client.out" 2>"$dir/client.err"; then
        tail -n 20 "$dir/client.err" >&2
        die "bench serve failed at c=$c (see $dir/client.err)"
    fi
    python3 "$HELPER" fetch "$url/mock/stats" "$dir/mock-stats.json"
    mock_cpu=$(python3 "$HELPER" cpu "$mock_pid")
    kill -TERM "$mock_pid" && wait "$mock_pid" || true
    mock_pid=
    python3 "$HELPER" row --result "$dir/result.json" --time "$dir/time.txt" \
        --stats "$dir/mock-stats.json" --concurrency "$c" --requests "$n" --mock-cpu "$mock_cpu" --warmups "$warmups" \
        --load "$(cut -d" " -f1 /proc/loadavg)" >>"$OUT_DIR/rows.jsonl"
done
done

python3 "$HELPER" table "$OUT_DIR/rows.jsonl" | tee "$OUT_DIR/table.md"
