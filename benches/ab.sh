#!/usr/bin/env bash
# Before/after on one machine state: two revisions of this repository, interleaved.
#
#   benches/ab.sh [--rounds N] [--seconds S] [--only FIGURES] [--out FILE] REV_A REV_B
#
# Builds `bench` and `interop_peer` (release) for each revision in its own worktree and target
# dir under ${AB_DIR:-/tmp/secret-stack-ab}, starts one peer of each revision, then runs, N rounds
# (default 6), the bench client of each revision against the peer of the same revision, in the
# order A,B then B,A then A,B… so that a machine drifting during the run moves both alike.
# Besides each figure it records the CPU time the peer process and the client process used per
# figure run; for `connect` it divides them by the connections made (µs per connection), a
# figure that machine load barely moves, unlike a rate.
# Prints a markdown table: per figure, per revision, the median and the range of the N rounds,
# and B/A. Raw JSON lines (tagged rev and round) go to FILE (default
# benches/results/ab-<time>.jsonl).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=6
SECONDS_PER=2
ONLY=connect,rtt1,rtt100,source,echo
OUT=""
while [ $# -gt 2 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -ne 2 ]; then
  echo "usage: $0 [--rounds N] [--seconds S] [--only FIGURES] [--out FILE] REV_A REV_B" >&2
  exit 2
fi
REVS=("$1" "$2")
if [ -z "$OUT" ]; then
  mkdir -p "$ROOT/benches/results"
  OUT="$ROOT/benches/results/ab-$(date +%Y%m%d-%H%M%S).jsonl"
fi
: > "$OUT"
AB_DIR=${AB_DIR:-/tmp/secret-stack-ab}
mkdir -p "$AB_DIR"

# Builds revision $1 (as slot $2) and prints its examples dir.
build() { # rev slot
  local rev=$1 slot=$2 sha
  sha=$(git -C "$ROOT" rev-parse --verify "$rev^{commit}")
  local tree="$AB_DIR/tree-$slot" target="$AB_DIR/target-$slot"
  if [ -d "$tree" ]; then
    git -C "$tree" checkout -q --detach "$sha"
  else
    git -C "$ROOT" worktree add -q --detach "$tree" "$sha"
  fi
  (cd "$tree" && CARGO_TARGET_DIR="$target" cargo build -q --release --example bench --example interop_peer) >&2
  echo "$target/release/examples"
}
BIN_A=$(build "${REVS[0]}" a)
BIN_B=$(build "${REVS[1]}" b)

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  exec 7>&- 8>&- 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_peer() { # slot fd bin
  local slot=$1 fd=$2 bin=$3
  mkfifo "$WORK/$slot.in"
  "$bin/interop_peer" < "$WORK/$slot.in" > "$WORK/$slot.out" 2> "$WORK/$slot.err" &
  PIDS+=("$!")
  echo "$!" > "$WORK/$slot.pid"
  eval "exec $fd>\"$WORK/$slot.in\""
  for _ in $(seq 100); do
    [ -s "$WORK/$slot.out" ] && break
    sleep 0.1
  done
  head -1 "$WORK/$slot.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])' > "$WORK/$slot.addr"
}
start_peer a 7 "$BIN_A"
start_peer b 8 "$BIN_B"

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One figure, one revision: appends the client's JSON line with the peer's and client's CPU.
run_one() { # slot round figure
  local slot=$1 round=$2 figure=$3 bin pid addr before after line
  bin=$BIN_A; [ "$slot" = b ] && bin=$BIN_B
  pid=$(cat "$WORK/$slot.pid"); addr=$(cat "$WORK/$slot.addr")
  before=$(cpu_ticks "$pid")
  line=$( { /usr/bin/time -f 'CPU %U %S' "$bin/bench" "$addr" --only "$figure" --seconds "$SECONDS_PER"; } 2>&1 | grep -E '^\{|^CPU' | tr '\n' ' ')
  after=$(cpu_ticks "$pid")
  python3 - "$slot" "$round" "$line" "$before" "$after" "$HZ" >> "$OUT" <<'EOF'
import json, sys
slot, rnd, line, before, after, hz = sys.argv[1:]
parts = line.split('CPU')
rec = json.loads(parts[0].strip())
user, system = (float(x) for x in parts[1].split())
rec.update(rev=slot, round=int(rnd), peer_cpu_s=(int(after) - int(before)) / int(hz), client_cpu_s=user + system)
print(json.dumps(rec))
EOF
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  order="a b"; [ $((round % 2)) = 0 ] && order="b a"
  echo "round $round/$ROUNDS ($order)" >&2
  for figure in ${ONLY//,/ }; do
    for slot in $order; do run_one "$slot" "$round" "$figure"; done
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$OUT" "${REVS[0]}" "${REVS[1]}" "$LOAD_START" "$LOAD_END" "$SECONDS_PER" <<'EOF'
import json, statistics, sys
path, rev_a, rev_b, load_start, load_end, seconds = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"
print(f"A = {rev_a}, B = {rev_b}; load average {load_start} at start, {load_end} at end; "
      f"median [min–max] of {max(l['round'] for l in lines)} interleaved rounds")
print()
print("| figure | unit | A | B | B/A |")
print("|---|---|---:|---:|---:|")
rows = []
for bench in dict.fromkeys(l["bench"] for l in lines):
    unit = next(l["unit"] for l in lines if l["bench"] == bench)
    vals = {s: [l["value"] for l in lines if l["bench"] == bench and l["rev"] == s] for s in "ab"}
    med = {s: statistics.median(v) for s, v in vals.items()}
    cell = {s: f"{fmt(med[s])} [{fmt(min(vals[s]))}–{fmt(max(vals[s]))}]" for s in "ab"}
    print(f"| {bench} | {unit} | {cell['a']} | {cell['b']} | {med['b'] / med['a']:.2f} |")
    if bench == "connect":
        for side in ("peer", "client"):
            per = {s: statistics.median([l[f"{side}_cpu_s"] * 1e6 / (l["value"] * float(seconds))
                                         for l in lines if l["bench"] == bench and l["rev"] == s]) for s in "ab"}
            print(f"| connect: {side} CPU | µs/conn | {per['a']:.0f} | {per['b']:.0f} | {per['b'] / per['a']:.2f} |")
print()
print(f"raw: {path}")
EOF
