#!/usr/bin/env bash
# Compare tracebus with nats-server on this machine, scenario by scenario.
#
# For every case the two servers run alternately (tracebus, nats-server,
# tracebus, nats-server, ...: --rounds rounds, 3 by default), each run on a
# freshly started server on a free loopback port, so no run inherits another's
# subscriptions, connections or memory. The server and the load generator
# (`tracebus-tools bench`) are pinned to the same core with `taskset -c 0`,
# because on this kind of VM waking a process on the other core costs
# 80-330 µs and swings over minutes; `--split` pins the server to core 0 and
# the generator to core 1 instead. Every run passes `--server-pid`, so the
# server's CPU time per message is measured as well as its throughput.
#
# Output: progress on stderr, then a Markdown table of medians on stdout;
# raw results (one JSON line per run) and the table are kept in --out.
#
# Usage: scripts/compare-nats.sh [--split] [--rounds N] [--quick] [--out DIR]
#   --quick   one tenth of the messages and 1,000 connections (smoke run)
#
# Needs only Debian packages (nats-server is installed if missing) and this
# repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=3
SPLIT=0
QUICK=0
OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --split) SPLIT=1 ;;
        --quick) QUICK=1 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done
OUT="${OUT:-$ROOT/target/bench/compare-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

SERVER_CPU=0
GEN_CPU=0
if [[ $SPLIT == 1 ]]; then
    GEN_CPU=1
fi

log() { echo "[compare] $*" >&2; }

# --- nats-server -------------------------------------------------------------
NATS="$(command -v nats-server || true)"
[[ -z "$NATS" && -x /usr/sbin/nats-server ]] && NATS=/usr/sbin/nats-server
if [[ -z "$NATS" ]]; then
    log "nats-server not found; installing the Debian package"
    SUDO=""
    [[ $(id -u) != 0 ]] && SUDO="sudo"
    $SUDO apt-get update
    $SUDO apt-get install -y nats-server
    NATS="$(command -v nats-server || echo /usr/sbin/nats-server)"
fi
log "nats-server: $("$NATS" --version 2>&1)"

# --- build -----------------------------------------------------------------
log "building tracebus and tracebus-tools (release)"
cargo build --release -p tracebus -p tracebus-tools >&2
TRACEBUS="$ROOT/target/release/tracebus"
TOOLS="$ROOT/target/release/tracebus-tools"

# 10,000 connections need as many sockets in the generator and the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
log "open-file limit: $(ulimit -n)"

# --- cases -------------------------------------------------------------------
# label | scenario | arguments
if [[ $QUICK == 1 ]]; then K=10; CONNS=1000; else K=1; CONNS=10000; fi
CASES=(
    "pub-128B|pub|--msgs $((10000000 / K)) --size 128"
    "pubsub-1:1-128B|pubsub|--msgs $((5000000 / K)) --size 128"
    "sub-1:1-1KiB|sub|--msgs $((2000000 / K)) --size 1024"
    "fanout-1:10-128B|fanout|--msgs $((1000000 / K)) --subs 10 --size 128"
    "fanin-4:1-128B|fanin|--msgs $((4000000 / K)) --pubs 4 --size 128"
    "queue-1:4-128B|queue|--msgs $((4000000 / K)) --subs 4 --size 128"
    "subjects-100-bench.*|pubsub|--msgs $((4000000 / K)) --subjects 100 --size 128"
    "wildcards-10k-subs|pubsub|--msgs $((2000000 / K)) --subjects 10000 --sub-wildcards 10000 --size 128"
    "reqrep-128B|reqrep|--msgs $((50000 / K)) --size 128"
    "conns-$CONNS|conns|--conns $CONNS"
)

# --- servers -----------------------------------------------------------------
SPID=""
SPORT=""

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    for ((p = 15222 + RANDOM % 2000; p < 65000; p++)); do
        if ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
    echo "no free port" >&2
    return 1
}

start_server() { # name
    SPORT="$(free_port)"
    case "$1" in
        tracebus) taskset -c "$SERVER_CPU" "$TRACEBUS" -a 127.0.0.1 -p "$SPORT" >>"$OUT/tracebus.log" 2>&1 & ;;
        nats-server) taskset -c "$SERVER_CPU" "$NATS" -a 127.0.0.1 -p "$SPORT" >>"$OUT/nats-server.log" 2>&1 & ;;
    esac
    SPID=$!
    for _ in $(seq 200); do
        port_in_use "$SPORT" && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.05
    done
    log "$1 did not start (see $OUT/$1.log)"
    return 1
}

stop_server() {
    if [[ -n "$SPID" ]]; then
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
        SPID=""
    fi
}
trap stop_server EXIT INT TERM

run_case() { # name label scenario args...
    local name="$1" label="$2" scenario="$3"
    shift 3
    start_server "$name" || {
        echo "{\"label\":\"$label\",\"target\":\"$name\",\"errors\":[\"server did not start\"]}" >>"$RESULTS"
        return
    }
    local line rc=0
    # shellcheck disable=SC2068
    line="$(taskset -c "$GEN_CPU" "$TOOLS" bench "$scenario" --url "nats://127.0.0.1:$SPORT" \
        --server-pid "$SPID" --json --label "$label" --target-name "$name" $@ 2>"$OUT/last-error.txt")" || rc=$?
    stop_server
    if [[ -n "$line" ]]; then
        echo "$line" >>"$RESULTS"
        log "$(printf '%-22s %-12s' "$label" "$name") $(echo "$line" | grep -o '"msgs_per_sec":[0-9.]*' | head -1) \
$(echo "$line" | grep -o '"server_cpu_ns_per_msg":[0-9.]*' | head -1) rc=$rc"
    else
        local err
        err="$(tr '\n"' ' _' <"$OUT/last-error.txt")"
        echo "{\"label\":\"$label\",\"target\":\"$name\",\"errors\":[\"run failed: $err\"]}" >>"$RESULTS"
        log "$label $name FAILED: $err"
    fi
}

{
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "pinning: server on core $SERVER_CPU, generator on core $GEN_CPU; rounds: $ROUNDS"
    echo "nats-server: $("$NATS" --version 2>&1); tracebus: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

START=$(date +%s)
for c in "${CASES[@]}"; do
    IFS='|' read -r label scenario args <<<"$c"
    for ((r = 1; r <= ROUNDS; r++)); do
        # shellcheck disable=SC2086
        run_case tracebus "$label" "$scenario" $args
        # shellcheck disable=SC2086
        run_case nats-server "$label" "$scenario" $args
    done
done
log "finished in $(($(date +%s) - START)) s; raw results in $RESULTS"

"$TOOLS" bench summarize "$RESULTS" --a tracebus --b nats-server >"$OUT/table.md"
{
    cat "$OUT/machine.txt"
    echo
    cat "$OUT/table.md"
} | tee "$OUT/summary.md"
