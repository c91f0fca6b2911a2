#!/usr/bin/env bash
# The bench's figures through a tunnel against direct, in one run, through both portals.
#
#   benches/tunnel.sh [--runs N] [--seconds S] [--idle N] [--out FILE] [--no-build]
#
# Starts a JS portal (tests/interop/peer.js --serve-portal --nodelay), a Rust portal
# (interop_peer --serve-portal, release) and one Rust endpoint (interop_peer --portal) announced
# to each portal, then:
#  1. runs `rtt1`, `rtt100` and `source` (examples/bench.rs) direct to the endpoint, through the
#     JS portal and through the Rust portal, interleaved, N runs each (default 3), S seconds per
#     figure (default 2), and reads each portal's CPU time (utime + stime) around its runs;
#  2. opens N (default 500; the Rust portal is started with a cap of N + 16 tunnels per endpoint) idle
#     tunnels through each portal and reads the portal's VmRSS before and after;
#  3. prints a markdown table of medians, and writes every raw JSON line to FILE (default
#     benches/results/tunnel-<timestamp>.jsonl).
# Needs cargo, node and npm. Takes about 2 minutes with the defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
SECONDS_PER=2
IDLE=500
OUT=""
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: $0 [--runs N] [--seconds S] [--idle N] [--out FILE] [--no-build]" >&2; exit 2 ;;
  esac
done
if [ -z "$OUT" ]; then
  mkdir -p "$ROOT/benches/results"
  OUT="$ROOT/benches/results/tunnel-$(date +%Y%m%d-%H%M%S).jsonl"
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
FDS=()
cleanup() {
  for fd in "${FDS[@]}"; do eval "exec $fd>&-" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

json() { # file key: the key of the JSON line in file
  head -1 "$1" | node -pe "JSON.parse(require('fs').readFileSync(0))['$2']"
}

# Starts a peer with its stdin on a fifo we hold open on fd (closing it stops the peer); waits
# for its JSON line (an endpoint prints it once announced); sets PEER_PID.
start_peer() { # name fd command...
  local name=$1 fd=$2; shift 2
  mkfifo "$WORK/$name.in"
  "$@" < "$WORK/$name.in" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  FDS+=("$fd")
  eval "exec $fd>\"$WORK/$name.in\""
  for _ in $(seq 300); do
    [ -s "$WORK/$name.out" ] && break
    sleep 0.1
  done
  [ -s "$WORK/$name.out" ] || { cat "$WORK/$name.err" >&2; echo "$name did not start" >&2; exit 1; }
  echo "$name: pid $PEER_PID, $(head -1 "$WORK/$name.out")" >&2
}

# CPU time of a process so far, in clock ticks (utime + stime).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_peer js-portal 5 node "$INTEROP/peer.js" --serve-portal --nodelay
JS_PORTAL_PID=$PEER_PID
JS_PORTAL=$(json "$WORK/js-portal.out" address)
start_peer rust-portal 6 "$BIN/interop_peer" --serve-portal --max-tunnels $((IDLE + 16))
RUST_PORTAL_PID=$PEER_PID
RUST_PORTAL=$(json "$WORK/rust-portal.out" address)
start_peer endpoint-js 7 "$BIN/interop_peer" --portal "$JS_PORTAL"
DIRECT=$(json "$WORK/endpoint-js.out" address)
VIA_JS=$(json "$WORK/endpoint-js.out" tunnel)
start_peer endpoint-rust 8 "$BIN/interop_peer" --portal "$RUST_PORTAL"
VIA_RUST=$(json "$WORK/endpoint-rust.out" tunnel)

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
HZ=$(getconf CLK_TCK)

# Runs the bench and appends its JSON lines to $OUT tagged with path and run; with a portal
# pid, also the portal's CPU seconds during the run.
record() { # path run portal-pid|- bench-args...
  local path=$1 run=$2 pid=$3; shift 3
  local before=0
  [ "$pid" = - ] || before=$(ticks "$pid")
  "$BIN/bench" "$@" 2>>"$WORK/clients.err" | while IFS= read -r line; do
    printf '{"path":"%s","run":%s,%s\n' "$path" "$run" "${line#\{}" >> "$OUT"
  done || echo "warning: $path run $run failed (see below)" >&2
  if [ "$pid" != - ]; then
    local cpu
    cpu=$(awk -v a="$before" -v b="$(ticks "$pid")" -v hz="$HZ" 'BEGIN {print (b - a) / hz}')
    printf '{"path":"%s","run":%s,"bench":"portal_cpu_s","value":%s,"unit":"s"}\n' \
      "$path" "$run" "$cpu" >> "$OUT"
  fi
}

FIGS=(--only rtt1,rtt100,source --seconds "$SECONDS_PER")
for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS" >&2
  record direct "$run" - "$DIRECT" "${FIGS[@]}"
  record js-portal "$run" "$JS_PORTAL_PID" "$VIA_JS" --portal "$JS_PORTAL" "${FIGS[@]}"
  record rust-portal "$run" "$RUST_PORTAL_PID" "$VIA_RUST" --portal "$RUST_PORTAL" "${FIGS[@]}"
done
echo "idle: $IDLE tunnels through each portal" >&2
record js-portal-idle 0 - "$VIA_JS" --portal "$JS_PORTAL" --idle "$IDLE" --peer-pid "$JS_PORTAL_PID"
record rust-portal-idle 0 - "$VIA_RUST" --portal "$RUST_PORTAL" --idle "$IDLE" --peer-pid "$RUST_PORTAL_PID"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
[ -s "$WORK/clients.err" ] && grep -v 'bench client id' "$WORK/clients.err" >&2 || true

node - "$OUT" "$LOAD_START" "$LOAD_END" "$(nproc)" "$SECONDS_PER" <<'EOF'
const [file, loadStart, loadEnd, cores, seconds] = process.argv.slice(2)
const lines = require('fs').readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const median = (xs) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const pick = (path, bench) => lines.filter((l) => l.path === path && l.bench === bench).map((l) => l.value)
const fmt = (x) => (Number.isNaN(x) ? 'n/a' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2))
const paths = ['direct', 'js-portal', 'rust-portal']
const out = []
out.push(`${cores} cores; load average ${loadStart} at start, ${loadEnd} at end; medians of ${Math.max(...lines.map((l) => l.run))} runs`)
out.push('')
out.push('| figure | unit | direct | through the JS portal | through the Rust portal |')
out.push('|---|---|---:|---:|---:|')
for (const bench of ['rtt1', 'rtt100', 'source']) {
  const unit = (lines.find((l) => l.bench === bench) || {}).unit || ''
  const m = paths.map((p) => median(pick(p, bench)))
  out.push(`| ${bench} | ${unit} | ${m.map(fmt).join(' | ')} |`)
}
// The three figures run for about 3 x seconds: the portal's CPU share over that time.
const share = (p) => (100 * median(pick(p, 'portal_cpu_s'))) / (3 * Number(seconds))
out.push(`| portal CPU during the three figures | % of one core | | ${fmt(share('js-portal'))} | ${fmt(share('rust-portal'))} |`)
const idle = (p) => median(pick(p, 'idle_rss_per_conn'))
out.push(`| portal RSS growth per open idle tunnel | KiB | | ${fmt(idle('js-portal-idle'))} | ${fmt(idle('rust-portal-idle'))} |`)
console.log(out.join('\n'))
EOF
echo "raw results: $OUT" >&2
