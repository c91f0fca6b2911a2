#!/usr/bin/env bash
# Start-up time of one call from the command line: `secret-stack call METHOD` (release build)
# against tests/interop/call.js, a minimal JS client doing the same (secret-stack 8.1.0, the way
# `ssb-client` dials). Both read a Scuttlebutt directory under a temporary HOME (~/.ssb/secret,
# ~/.ssb/config) and call the local server, tests/interop/peer.js started with the same key file.
#
#   benches/startup.sh [--runs N] [--method M] [--nodelay] [--no-build]
#
# Each run starts the process, connects, handshakes, makes the call, prints the answer, closes
# and exits; the figure is the wall time of the whole process, median of N (default 10) runs per
# client, interleaved, after one warm-up run each. The method defaults to `manifest`, a sync
# method every secret-stack node has (`whoami`, the same kind of call, needs Scuttlebutt's
# database plugin, which the test peer does not load). `secret-stack call` is timed twice: as a
# user types it (it asks the manifest for the method's kind first: two round trips) and with
# `--kind sync` (one round trip, as the JS client). --nodelay starts the peer with TCP_NODELAY
# (a stock JS server, like ssb-server, runs without: its small writes then wait for the client's
# delayed ACK, ~40 ms per extra round trip on Linux). Needs cargo, node and npm.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=10
METHOD=manifest
BUILD=1
NODELAY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --method) METHOD=$2; shift 2 ;;
    --nodelay) NODELAY=--nodelay; shift ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: $0 [--runs N] [--method M] [--nodelay] [--no-build]" >&2; exit 2 ;;
  esac
done

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CLI=$TARGET/release/secret-stack
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -p secret-stack-cli) >&2
fi
[ -x "$CLI" ] || { echo "no $CLI: build it (or drop --no-build)" >&2; exit 1; }
[ -d "$ROOT/tests/interop/node_modules" ] || (cd "$ROOT/tests/interop" && npm ci --no-audit --no-fund >&2)

WORK=$(mktemp -d)
PEER_PID=""
cleanup() {
  [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export HOME=$WORK/home
unset SECRET_STACK_APP_KEY SECRET_STACK_KEYS RUST_LOG
mkdir -p "$HOME/.ssb"
"$CLI" keygen --keys "$HOME/.ssb/secret" > /dev/null 2>&1
APP_KEY=SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=
mkfifo "$WORK/peer-stdin"
node "$ROOT/tests/interop/peer.js" $NODELAY --port 0 --keys "$HOME/.ssb/secret" --app-key "$APP_KEY" \
  < "$WORK/peer-stdin" > "$WORK/peer.out" 2> "$WORK/peer.err" &
PEER_PID=$!
exec 3> "$WORK/peer-stdin"   # holds the peer's stdin open until this script ends
for _ in $(seq 100); do [ -s "$WORK/peer.out" ] && break; sleep 0.1; done
PORT=$(sed -n 's/.*"address":"net:127\.0\.0\.1:\([0-9]*\)~.*/\1/p' "$WORK/peer.out")
[ -n "$PORT" ] || { echo "peer.js did not start: $(cat "$WORK/peer.err")" >&2; exit 1; }
printf '{"caps":{"shs":"%s"},"host":"127.0.0.1","port":%s}\n' "$APP_KEY" "$PORT" > "$HOME/.ssb/config"

# Milliseconds the command takes, failing if it fails.
time_ms() {
  local start end
  start=$(date +%s%N)
  "$@" > "$WORK/answer" 2> "$WORK/errors" || { echo "failed: $* : $(cat "$WORK/errors")" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A TIMES
NAMES=("secret-stack call $METHOD" "secret-stack call $METHOD --kind sync" "node call.js $METHOD")
run_one() {
  case "$1" in
    0) time_ms "$CLI" call "$METHOD" ;;
    1) time_ms "$CLI" call "$METHOD" --kind sync ;;
    2) time_ms node "$ROOT/tests/interop/call.js" "$METHOD" ;;
  esac
}
for i in 0 1 2; do run_one "$i" > /dev/null; done   # warm-up: caches, JIT-free first start
for _ in $(seq "$RUNS"); do
  for i in 0 1 2; do TIMES[$i]+="$(run_one "$i") "; done
done

echo "| command (median of $RUNS, wall time of the process) | ms |"
echo "|---|---:|"
for i in 0 1 2; do
  echo "| \`${NAMES[$i]}\` | $(echo "${TIMES[$i]}" | tr ' ' '\n' | grep . | median) |"
done
echo
echo "peer: peer.js ${NODELAY:-without --nodelay}; load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
