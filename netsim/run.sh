#!/usr/bin/env bash
# A network on one machine: H hosts as Linux network namespaces on a bridge, N replicating peers
# spread over them, faults injected, figures written under benches/results/. See netsim/README.md.
#
#   sudo netsim/run.sh smoke|steady|churn|partition|crowd|ci
#
# Scale and timing come from environment variables (defaults per scenario below; netsim/README.md
# says what each does): PEERS, HOSTS, FOLLOWS, SEED, WARMUP, SECONDS_APPEND, POLL_MS, SETTLE,
# CHURN_EVERY, CHURN_PERCENT, DOWN_FOR, PARTITION_SECONDS, BANDWIDTH (an htb rate such as 20mbit
# on every host's link), CROWD, CROWD_RAMP, CROWD_STEADY, CROWD_IMPLS ("rust js"),
# CROWD_NODE_ARGS (flags for our crowd node), PROFILE (release|debug), RESULTS_DIR, KEEP=1.
# The last line printed is the run's one-line summary, with `lost N`.
set -euo pipefail

scenario="${1:-}"
case "$scenario" in
  smoke | steady | churn | partition | crowd | ci) ;;
  *) echo "usage: $0 smoke|steady|churn|partition|crowd|ci (see netsim/README.md)" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
  echo "netsim needs root: it creates network namespaces, a bridge and veth links (ip netns)." >&2
  echo "Run it as root, e.g. sudo $0 $scenario" >&2
  exit 2
fi
for tool in ip tc python3 cargo; do
  command -v "$tool" >/dev/null || { echo "netsim needs $tool on PATH" >&2; exit 2; }
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
here="$repo/netsim"
tag="$$"
run="$(mktemp -d "/tmp/netsim-$scenario-XXXXXX")"
bridge="nsb$tag"
pids=()
namespaces=()

# ---------------------------------------------------------------------------------------------
# Clean-up: every process, namespace and link this run made, also on failure and Ctrl-C.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for ns in "${namespaces[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  # A namespace goes away in the background: take its link out of the root namespace now.
  for ((h = 0; h < ${#namespaces[@]}; h++)); do ip link del "$(host_link $h)" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "run directory kept: $run" >&2; else rm -rf "$run"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { date +%s%6N; }
fault() { echo "$1 $(now_us) ${2:-}" >>"$run/faults"; }
log() { echo "netsim $scenario: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Scenario defaults (every one can be overridden from the environment).
case "$scenario" in
  smoke) d_peers=6 d_hosts=2 d_seconds=10 ;;
  # CI runs the debug build, ten times slower: polling less often keeps it from starving.
  ci) d_peers=10 d_hosts=3 d_seconds=30 d_poll=1000 ;;
  steady) d_peers=100 d_hosts=10 d_seconds=60 ;;
  churn) d_peers=100 d_hosts=10 d_seconds=300 ;;
  partition) d_peers=100 d_hosts=10 d_seconds=120 ;;
  crowd) d_peers=0 d_hosts=5 d_seconds=0 ;;
esac
PEERS="${PEERS:-$d_peers}"
HOSTS="${HOSTS:-$d_hosts}"
FOLLOWS="${FOLLOWS:-10}"
SECONDS_APPEND="${SECONDS_APPEND:-$d_seconds}"
CHURN_EVERY="${CHURN_EVERY:-10}"
CHURN_PERCENT="${CHURN_PERCENT:-10}"
DOWN_FOR="${DOWN_FOR:-3}"
PARTITION_SECONDS="${PARTITION_SECONDS:-60}"
SETTLE="${SETTLE:-60}"
WARMUP="${WARMUP:-$((PEERS >= 50 ? 10 : 5))}"
POLL_MS="${POLL_MS:-${d_poll:-200}}"
PROFILE="${PROFILE:-release}"
RESULTS_DIR="${RESULTS_DIR:-$repo/benches/results}"
SEED="${SEED:-1}"
[ "$HOSTS" -ge 2 ] && [ "$HOSTS" -le 250 ] || { echo "HOSTS must be 2..250" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Build.
profile_flag=()
[ "$PROFILE" = release ] && profile_flag=(--release)
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target_dir/$PROFILE/examples"
log "building ($PROFILE)"
build_start=$(date +%s)
(cd "$repo" && cargo build -q "${profile_flag[@]}" -p secret-stack-examples \
  --example netsim_peer --example netsim_crowd)
log "built in $(($(date +%s) - build_start)) s"

# ---------------------------------------------------------------------------------------------
# The network: one bridge in the root namespace (no address there), one namespace per host with
# a veth into the bridge and an address in 10.213.0.0/24, which exists only inside them.
host_ip() { echo "10.213.0.$(($1 + 1))"; }
host_ns() { echo "nsim$tag-h$1"; }
host_link() { echo "nsv$tag-$1"; }

ip link add "$bridge" type bridge || { echo "cannot create a bridge: is this a container without NET_ADMIN?" >&2; exit 2; }
ip link set "$bridge" up
for ((h = 0; h < HOSTS; h++)); do
  ns=$(host_ns $h)
  if ! ip netns add "$ns"; then echo "cannot create network namespace $ns (ip netns add failed)" >&2; exit 2; fi
  namespaces+=("$ns")
  ip link add "$(host_link $h)" type veth peer name eth0 netns "$ns"
  ip link set "$(host_link $h)" master "$bridge" up
  ip -n "$ns" addr add "$(host_ip $h)/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [ -n "${BANDWIDTH:-}" ]; then
    # What the host receives leaves the bridge through the veth's root side; what it sends leaves
    # through eth0 inside the namespace: an htb cap on each.
    tc qdisc add dev "$(host_link $h)" root handle 1: htb default 10
    tc class add dev "$(host_link $h)" parent 1: classid 1:10 htb rate "$BANDWIDTH"
    ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: htb default 10
    ip netns exec "$ns" tc class add dev eth0 parent 1: classid 1:10 htb rate "$BANDWIDTH"
  fi
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "$HOSTS hosts on bridge $bridge (10.213.0.0/24)${BANDWIDTH:+, links capped at $BANDWIDTH}; run dir $run"

link_bytes() { # bytes each host sent so far, one line per host: the bridge side's rx counter
  for ((h = 0; h < HOSTS; h++)); do
    echo "$h $(cat "/sys/class/net/$(host_link $h)/statistics/rx_bytes")"
  done
}

# ---------------------------------------------------------------------------------------------
# Peers.
peer_pid=()
start_peer() { # start_peer I
  local i=$1 h=$(($1 % HOSTS))
  ip netns exec "$(host_ns $h)" "$bin/netsim_peer" "$run/p$i.json" >>"$run/p$i.log" 2>&1 &
  peer_pid[$i]=$!
  pids+=($!)
}
stop_peer() { # stop_peer I SIGNAL
  local pid="${peer_pid[$1]:-}"
  [ -n "$pid" ] || return 0
  kill "-$2" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  peer_pid[$1]=""
}
sample_procs() { # CPU and memory of every live peer: pid, index, utime+stime ticks, age, RSS
  local out="$1" i pid
  : >"$out"
  for ((i = 0; i < PEERS; i++)); do
    pid="${peer_pid[$i]:-}"
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || continue
    echo "$i $pid $(cut -d' ' -f14,15,22 "/proc/$pid/stat") $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") $(cut -d' ' -f1 /proc/uptime)" >>"$out"
  done
}

run_peers() {
  local start_us append_from append_until
  start_us=$(now_us)
  append_from=$((start_us + WARMUP * 1000000))
  append_until=$((append_from + SECONDS_APPEND * 1000000))
  python3 "$here/analyze.py" plan --run "$run" --peers "$PEERS" --hosts "$HOSTS" \
    --follows "$FOLLOWS" --seed "$SEED" --poll-ms "$POLL_MS" \
    --append-from-us "$append_from" --append-until-us "$append_until"
  fault start
  for ((i = 0; i < PEERS; i++)); do start_peer $i; done
  log "$PEERS peers starting; appending from $WARMUP s on, for $SECONDS_APPEND s"
  sleep_until "$append_from"
  fault begin
  link_bytes >"$run/bytes.begin"
  case "$scenario" in
    churn | ci) churn_until "$append_until" ;;
    partition) partition_during "$append_until" ;;
    *) sleep_until "$append_until" ;;
  esac
  fault append-stop
  link_bytes >"$run/bytes.end"
  sample_procs "$run/procs"
  # Every peer is up now: wait until every follower has every entry, or SETTLE seconds.
  local waited=0 missing
  while :; do
    missing=$(python3 "$here/analyze.py" missing --run "$run")
    [ "$missing" = 0 ] && break
    [ "$waited" -ge "$SETTLE" ] && { log "still $missing deliveries missing after $SETTLE s"; break; }
    sleep 1
    waited=$((waited + 1))
  done
  fault settled
  for ((i = 0; i < PEERS; i++)); do stop_peer $i TERM; done
}

sleep_until() { # sleep_until US
  local left=$((($1 - $(now_us)) / 1000))
  [ "$left" -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
  return 0
}

RANDOM=$SEED
pick() { # pick N: N distinct peer numbers
  local -A chosen=()
  while [ "${#chosen[@]}" -lt "$1" ]; do chosen[$((RANDOM % PEERS))]=1; done
  echo "${!chosen[@]}"
}

churn_until() { # from 5 s in, every CHURN_EVERY s: kill CHURN_PERCENT % of the peers, restart them DOWN_FOR s later
  local until=$1 n victims i
  n=$(((PEERS * CHURN_PERCENT + 99) / 100))
  sleep 5
  while :; do
    victims=$(pick "$n")
    for i in $victims; do stop_peer "$i" KILL; fault kill "$i"; done
    sleep "$DOWN_FOR"
    for i in $victims; do start_peer "$i"; fault restart "$i"; done
    # Churn stops with the last restart if another round would not fit.
    [ $(($(now_us) + CHURN_EVERY * 1000000)) -le "$until" ] || break
    sleep $((CHURN_EVERY - DOWN_FOR))
  done
  fault churn-stop
  sleep_until "$until"
}

partition_during() { # host 1's link down for PARTITION_SECONDS, from 15 s in
  local until=$1
  sleep 15
  ip link set "$(host_link 1)" down
  fault down 1
  log "host 1 cut off for $PARTITION_SECONDS s"
  sleep "$PARTITION_SECONDS"
  ip link set "$(host_link 1)" up
  fault up 1
  sleep_until "$until"
}

# ---------------------------------------------------------------------------------------------
# The crowd: one node on host 0, CROWD connections from hosts 1..H-1, each calling once a second.
crowd_one() { # crowd_one rust|js
  local impl=$1 node_pid address total=$((${CROWD:-10000})) per h clients=()
  local out="$run/crowd-$impl"
  mkdir -p "$out"
  per=$(((total + HOSTS - 2) / (HOSTS - 1)))
  mkfifo "$out/stdin"
  exec 7<>"$out/stdin"
  if [ "$impl" = rust ]; then
    # shellcheck disable=SC2086 # CROWD_NODE_ARGS is a list of flags
    ip netns exec "$(host_ns 0)" "$bin/netsim_crowd" node --host "$(host_ip 0)" --port 9000 \
      ${CROWD_NODE_ARGS:-} <&7 >"$out/node.out" 2>"$out/node.log" &
  else
    [ -d "$repo/tests/interop/node_modules" ] || (cd "$repo/tests/interop" && npm ci --no-audit --no-fund >&2)
    ip netns exec "$(host_ns 0)" node "$repo/tests/interop/peer.js" --host "$(host_ip 0)" \
      --port 9000 --nodelay <&7 >"$out/node.out" 2>"$out/node.log" &
  fi
  node_pid=$!
  pids+=("$node_pid")
  for ((w = 0; w < 100; w++)); do [ -s "$out/node.out" ] && break; sleep 0.1; done
  address=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["address"])' "$out/node.out")
  sleep 2
  echo "base $(now_us) $(awk '/^VmRSS/ {print $2}' /proc/$node_pid/status) $(cut -d' ' -f14,15 /proc/$node_pid/stat)" >"$out/node.samples"
  log "$impl node at $address: $total connections from $((HOSTS - 1)) hosts"
  for ((h = 1; h < HOSTS; h++)); do
    ip netns exec "$(host_ns $h)" "$bin/netsim_crowd" clients --target "$address" \
      --connections "$per" --events "$out/clients-$h.events" 2>"$out/clients-$h.log" &
    clients+=($!)
    pids+=($!)
  done
  # Ramp: until every connection is up, or CROWD_RAMP seconds.
  local ramp_end=$(($(now_us) + ${CROWD_RAMP:-180} * 1000000)) connected
  while [ "$(now_us)" -lt "$ramp_end" ]; do
    sleep 1
    connected=$(cat "$out"/clients-*.events 2>/dev/null | python3 "$here/analyze.py" crowd-connected)
    [ "$connected" -ge $((per * (HOSTS - 1))) ] && break
  done
  echo "full $(now_us) $(awk '/^VmRSS/ {print $2}' /proc/$node_pid/status) $(cut -d' ' -f14,15 /proc/$node_pid/stat)" >>"$out/node.samples"
  sleep "${CROWD_STEADY:-30}"
  echo "end $(now_us) $(awk '/^VmRSS/ {print $2}' /proc/$node_pid/status) $(cut -d' ' -f14,15 /proc/$node_pid/stat)" >>"$out/node.samples"
  for pid in "${clients[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${clients[@]}"; do wait "$pid" 2>/dev/null || true; done
  kill -TERM "$node_pid" 2>/dev/null || true
  exec 7>&-
  for ((w = 0; w < 50; w++)); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
}

mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%d-%H%M)
if [ "$scenario" = crowd ]; then
  fault begin
  for impl in ${CROWD_IMPLS:-rust js}; do crowd_one "$impl"; done
  python3 "$here/analyze.py" crowd-report --run "$run" --hosts "$HOSTS" \
    --out "$RESULTS_DIR/netsim-crowd-$stamp"
else
  run_peers
  python3 "$here/analyze.py" report --run "$run" --scenario "$scenario" --hosts "$HOSTS" \
    --out "$RESULTS_DIR/netsim-$scenario-$stamp"
fi
