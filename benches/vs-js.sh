#!/usr/bin/env bash
# Rust secret-stack against JS secret-stack 8.1.0, in one run on one machine.
#
#   benches/vs-js.sh [--runs N] [--seconds S] [--idle N] [--out FILE] [--no-build] [--awake]
#
# Starts the Rust interop peer (release build) and tests/interop/peer.js (with
# --nodelay, so both peers run with TCP_NODELAY), then:
#  1. idle memory: opens N (default 1000) idle authenticated connections to each
#     peer with the Rust bench client and reads the peer's VmRSS before/after;
#  2. runs the five figures (examples/bench.rs, tests/interop/bench.js) for the
#     pairs JS->JS, ours->ours, JS->ours, ours->JS (client->peer), interleaved,
#     N runs each (default 3), S seconds per figure (default 2);
#     plus, each run, the cipher's ceiling on one core (bench --only seal,open);
#  3. prints a markdown table of medians and the ratio ours->ours / JS->JS, and
#     writes every raw JSON line (tagged with pair and run) to FILE (default
#     benches/results/vs-js-<timestamp>.jsonl).
# --awake keeps every core busy with a lowest-priority (nice 19) spin loop during the run. On a
# virtual machine, a round trip between two processes otherwise waits for idle virtual CPUs to
# wake from halt (tens of microseconds each, two per round trip), which then dominates `rtt1`;
# the spinners take almost no time from the measured processes (CFS weight 15 vs 1024).
# Needs cargo, node and npm. Takes about 3 minutes with the defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
SECONDS_PER=2
IDLE=1000
OUT=""
BUILD=1
AWAKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --awake) AWAKE=1; shift ;;
    *) echo "usage: $0 [--runs N] [--seconds S] [--idle N] [--out FILE] [--no-build] [--awake]" >&2; exit 2 ;;
  esac
done
if [ -z "$OUT" ]; then
  mkdir -p "$ROOT/benches/results"
  OUT="$ROOT/benches/results/vs-js-$(date +%Y%m%d-%H%M%S).jsonl"
fi
: > "$OUT"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET/release/examples"
INTEROP="$ROOT/tests/interop"
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release --example bench --example interop_peer) >&2
fi
[ -d "$INTEROP/node_modules" ] || (cd "$INTEROP" && npm ci) >&2

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  exec 7>&- 8>&- 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a peer with its stdin on a fifo we hold open (closing it stops the
# peer); sets PEER_PID and PEER_ADDR.
start_peer() { # name fd command...
  local name=$1 fd=$2; shift 2
  mkfifo "$WORK/$name.in"
  "$@" < "$WORK/$name.in" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  eval "exec $fd>\"$WORK/$name.in\""
  for _ in $(seq 100); do
    [ -s "$WORK/$name.out" ] && break
    sleep 0.1
  done
  PEER_ADDR=$(head -1 "$WORK/$name.out" | node -pe 'JSON.parse(require("fs").readFileSync(0)).address')
  echo "$name peer: pid $PEER_PID, $PEER_ADDR" >&2
}

if [ "$AWAKE" = 1 ]; then
  for _ in $(seq "$(nproc)"); do
    nice -n 19 sh -c 'while :; do :; done' &
    PIDS+=("$!")
  done
  echo "awake: $(nproc) nice-19 spin loops running" >&2
fi

start_peer rust 7 "$BIN/interop_peer"
RUST_PID=$PEER_PID RUST_ADDR=$PEER_ADDR
start_peer js 8 node "$INTEROP/peer.js" --nodelay
JS_PID=$PEER_PID JS_ADDR=$PEER_ADDR

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $LOAD_START" >&2

# Runs a client and appends its JSON lines to $OUT tagged with pair and run.
record() { # pair run command...
  local pair=$1 run=$2; shift 2
  "$@" 2>>"$WORK/clients.err" | while IFS= read -r line; do
    printf '{"pair":"%s","run":%s,%s\n' "$pair" "$run" "${line#\{}" >> "$OUT"
  done || echo "warning: $pair run $run failed (see below)" >&2
}

echo "idle: $IDLE connections to each peer" >&2
record rust-peer 0 "$BIN/bench" "$RUST_ADDR" --idle "$IDLE" --peer-pid "$RUST_PID"
record js-peer 0 "$BIN/bench" "$JS_ADDR" --idle "$IDLE" --peer-pid "$JS_PID"

for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS" >&2
  record js-js "$run" node "$INTEROP/bench.js" "$JS_ADDR" --seconds "$SECONDS_PER"
  record ours-ours "$run" "$BIN/bench" "$RUST_ADDR" --seconds "$SECONDS_PER"
  record js-ours "$run" node "$INTEROP/bench.js" "$RUST_ADDR" --seconds "$SECONDS_PER"
  record ours-js "$run" "$BIN/bench" "$JS_ADDR" --seconds "$SECONDS_PER"
  record cipher "$run" "$BIN/bench" "$RUST_ADDR" --only seal,open --seconds "$SECONDS_PER"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
[ -s "$WORK/clients.err" ] && grep -v 'bench client id' "$WORK/clients.err" >&2 || true

AWAKE=$AWAKE node - "$OUT" "$LOAD_START" "$LOAD_END" "$(nproc)" <<'EOF'
const [file, loadStart, loadEnd, cores] = process.argv.slice(2)
const lines = require('fs').readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const median = (xs) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const pick = (pair, bench) => lines.filter((l) => l.pair === pair && l.bench === bench).map((l) => l.value)
const fmt = (x) => (Number.isNaN(x) ? 'n/a' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1))
const pairs = ['js-js', 'ours-ours', 'js-ours', 'ours-js']
const out = []
out.push(`${cores} cores${process.env.AWAKE === '1' ? ' kept awake by nice-19 spin loops (load includes them)' : ''}; load average ${loadStart} at start, ${loadEnd} at end; medians of ${Math.max(...lines.map((l) => l.run))} runs`)
out.push('')
out.push('| figure | unit | JS→JS | ours→ours | JS→ours | ours→JS | ours/JS |')
out.push('|---|---|---:|---:|---:|---:|---:|')
for (const bench of ['connect', 'rtt1', 'rtt100', 'source', 'echo']) {
  const unit = (lines.find((l) => l.bench === bench) || {}).unit || ''
  const m = pairs.map((p) => median(pick(p, bench)))
  out.push(`| ${bench} | ${unit} | ${m.map(fmt).join(' | ')} | ${(m[1] / m[0]).toFixed(2)}× |`)
}
const seal = median(pick('cipher', 'seal'))
const open = median(pick('cipher', 'open'))
const source = median(pick('ours-ours', 'source'))
out.push('')
out.push('| the ceiling of `source` (one core, 4096-byte frames) | MB/s | ours→ours source / it |')
out.push('|---|---:|---:|')
out.push(`| box-stream frame seal | ${fmt(seal)} | ${(source / seal).toFixed(2)}× |`)
out.push(`| box-stream frame open | ${fmt(open)} | ${(source / open).toFixed(2)}× |`)
const idle = (pair) => median(pick(pair, 'idle_rss_per_conn'))
const base = (pair) => median(pick(pair, 'idle_rss_before'))
out.push('')
out.push('| idle authenticated connection | JS peer | our peer | ours/JS |')
out.push('|---|---:|---:|---:|')
out.push(`| peer RSS growth per connection, KiB | ${fmt(idle('js-peer'))} | ${fmt(idle('rust-peer'))} | ${(idle('rust-peer') / idle('js-peer')).toFixed(2)}× |`)
out.push(`| peer RSS before (empty app), KiB | ${fmt(base('js-peer'))} | ${fmt(base('rust-peer'))} | |`)
console.log(out.join('\n'))
EOF
echo "raw results: $OUT" >&2
