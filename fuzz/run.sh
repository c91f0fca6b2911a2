#!/usr/bin/env bash
# Runs the cargo-fuzz targets of secret-stack, one after another (one fuzzing process at a time),
# each for a bounded time, and prints one summary line per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     SECONDS per target (default 600), TARGETs default to all
#
# Exit status: 0 if no target crashed, 1 if any did (the input is kept in fuzz/artifacts/<target>/
# and named in the summary), 2 on a setup or build failure.
#
# Environment:
#   FUZZ_TARGET_DIR   cargo target dir of the sanitized build (default fuzz/target; the flags
#                     differ from a normal build, so never share a normal target dir)
#   FUZZ_SANITIZER    address (default) or none (about twice as fast; the code under test is safe
#                     Rust, so this loses little)
#   FUZZ_TOOLCHAIN    force "nightly" (cargo +nightly) or "bootstrap" (stable with RUSTC_BOOTSTRAP=1)
#   FUZZ_SEED         libFuzzer's random seed (default: a new one each run); CI fixes it so a
#                     smoke run explores the same way each time
#
# cargo-fuzz needs nightly-only rustc flags (-Z sanitizer, sancov passes). With rustup and a nightly
# toolchain installed this uses `cargo +nightly`; otherwise the default (stable) toolchain with
# RUSTC_BOOTSTRAP=1, which unlocks the same flags. cargo-fuzz itself is installed if missing.
#
# New corpus entries go to fuzz/work/corpus/<target>/ (not committed); the committed seeds in
# fuzz/corpus/<target>/ are only read.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here" || exit 2
all_targets=(handshake_server handshake_client box_stream_decoder key_file packet_codec multiserver_address
    rpc_engine plugin_dispatch)

seconds="${1:-600}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
    exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    if [ ! -f "fuzz_targets/$t.rs" ]; then
        echo "fuzz: no target $t (have: ${all_targets[*]})" >&2
        exit 2
    fi
done

# --- toolchain --------------------------------------------------------------------------------
cargo_cmd=(cargo)
toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
    if command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then
        toolchain=nightly
    elif rustc --version | grep -q -- '-nightly'; then
        toolchain=native-nightly
    else
        toolchain=bootstrap
    fi
fi
case "$toolchain" in
    nightly) cargo_cmd=(cargo +nightly) ;;
    native-nightly) ;;
    bootstrap) export RUSTC_BOOTSTRAP=1 ;;
    *) echo "fuzz: FUZZ_TOOLCHAIN must be nightly or bootstrap" >&2; exit 2 ;;
esac
if [ "$toolchain" = nightly ]; then
    version=$(rustup run nightly rustc --version)
else
    version=$(rustc --version)
fi
echo "fuzz: toolchain $toolchain ($version)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || exit 2
fi

target_dir="${FUZZ_TARGET_DIR:-$here/target}"
sanitizer="${FUZZ_SANITIZER:-address}"
build_flags=(--sanitizer "$sanitizer" --target-dir "$target_dir")

# --- build ------------------------------------------------------------------------------------
build_start=$SECONDS
for t in "${targets[@]}"; do
    if ! "${cargo_cmd[@]}" fuzz build "${build_flags[@]}" "$t"; then
        echo "fuzz: build of $t failed" >&2
        exit 2
    fi
done
echo "fuzz: built ${#targets[@]} target(s) in $((SECONDS - build_start)) s"

# --- run --------------------------------------------------------------------------------------
max_len() {
    case "$1" in
        box_stream_decoder) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

mkdir -p work/logs
failed=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "work/corpus/$t" "artifacts/$t"
    log="work/logs/$t.log"
    echo "fuzz: running $t for $seconds s (log: fuzz/$log)"
    start=$SECONDS
    "${cargo_cmd[@]}" fuzz run "${build_flags[@]}" "$t" "$here/work/corpus/$t" "$here/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
        -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"} >"$log" 2>&1
    status=$?
    elapsed=$((SECONDS - start))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ -z "$runs" ]; then
        runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    corpus=$(find "work/corpus/$t" "corpus/$t" -type f | wc -l)
    if [ $status -eq 0 ]; then
        crashes=0
        note=""
    else
        crashes=1
        failed=1
        artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')
        kind=$(grep -m1 -o 'ERROR: libFuzzer: [a-z-]*\|panicked at [^ ]*' "$log" | head -1)
        note=" status=$status ${kind:-see log} input=fuzz/${artifact#"$here"/}"
    fi
    line="fuzz: $t seconds=$elapsed runs=${runs:-0} exec/s=$(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) )) corpus=$corpus crashes=$crashes$note"
    echo "$line"
    summary+=("$line")
done

echo "fuzz: summary ($sanitizer sanitizer, $seconds s per target)"
printf '%s\n' "${summary[@]}"
exit $failed
