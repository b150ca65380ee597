#!/usr/bin/env bash
# Build the C examples against libcloudsight.a with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer on) and run them; then, when valgrind is installed, run them under memcheck.
# Exits non-zero on any finding, a failing program or a build error.
#
# Usage (from anywhere): .ci/c-sanitizers.sh
# Honors CARGO_TARGET_DIR and CC. Inputs for `discover`: the capture that tests/c_api.rs generates
# (<target-dir>/test-data/sample.pcap, written by running that test here), the bundled
# examples/data/sample.pcap, and the classic pcaps of ../shared/corpus/pcap when present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cc="${CC:-cc}"
out="$target/c-sanitizers"
mkdir -p "$out"

echo "== cargo build -p cloudsight --lib"
cargo build -p cloudsight --lib
lib="$target/debug/libcloudsight.a"
test -f "$lib" || { echo "missing $lib" >&2; exit 1; }

echo "== generate the test capture (tests/c_api.rs)"
cargo test --test c_api c_discover_generated_capture_matches_across_threads_and_rust -- --quiet
inputs=("$target/test-data/sample.pcap" "$target/test-data/sample-be-ns.pcap")
[ -f examples/data/sample.pcap ] && inputs+=("examples/data/sample.pcap")
corpus=()
if [ -d ../shared/corpus/pcap ]; then
    for f in ../shared/corpus/pcap/*.pcap; do
        # classic pcap magic only (some .pcap files are pcapng inside)
        case "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" in
            d4c3b2a1|a1b2c3d4|4d3cb2a1|a1b23c4d) corpus+=("$f") ;;
        esac
    done
fi

common=(-std=c11 -Wall -Wextra -Werror -pedantic -g -I include)
libs=("$lib" -lpthread -ldl -lm)

echo "== ASan + UBSan build"
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
for prog in api_misuse discover policy abi_compat teardown; do
    "$cc" "${common[@]}" -O1 "${san[@]}" "examples/c/$prog.c" "${libs[@]}" -o "$out/$prog-asan"
done

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Leaks reported in Rust's own one-time allocations would be suppressed here (see the file).
export LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp:print_suppressions=1"

run_checked() { # name, command...: run, keep stdout away, fail loudly on a non-zero exit
    local name="$1"; shift
    local rc=0
    "$@" >"$out/last.stdout" 2>"$out/last.stderr" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAILED: $name (exit $rc)" >&2
        cat "$out/last.stderr" >&2
        exit 1
    fi
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:|definitely lost: [1-9]|possibly lost: [1-9]|ERROR SUMMARY: [1-9]" "$out/last.stderr"; then
        echo "FAILED: $name: sanitizer report" >&2
        cat "$out/last.stderr" >&2
        exit 1
    fi
    echo "ok: $name"
}

run_checked "api_misuse (asan+ubsan)" "$out/api_misuse-asan"
run_checked "policy (asan+ubsan)" "$out/policy-asan"
run_checked "abi_compat (asan+ubsan)" "$out/abi_compat-asan"
run_checked "teardown (asan+ubsan)" "$out/teardown-asan"
for f in "${inputs[@]}" "${corpus[@]}"; do
    run_checked "discover --threads 2 $(basename "$f") (asan+ubsan)" "$out/discover-asan" --threads 2 "$f"
done
run_checked "discover --threads 2 --structs (asan+ubsan)" "$out/discover-asan" --threads 2 --structs "${inputs[0]}"
run_checked "discover --threads 1 (asan+ubsan)" "$out/discover-asan" --threads 1 "${inputs[0]}"

if ! command -v valgrind >/dev/null && [ -n "${CI:-}" ]; then
    echo "== installing valgrind (CI)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind) >/dev/null 2>&1 || true
fi
if command -v valgrind >/dev/null; then
    echo "== valgrind memcheck"
    for prog in api_misuse discover policy abi_compat teardown; do
        "$cc" "${common[@]}" -O0 "examples/c/$prog.c" "${libs[@]}" -o "$out/$prog-plain"
    done
    vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1
        --num-callers=50 --suppressions="$root/.ci/valgrind.supp")
    run_checked "api_misuse (valgrind)" "${vg[@]}" "$out/api_misuse-plain"
    run_checked "policy (valgrind)" "${vg[@]}" "$out/policy-plain"
    run_checked "abi_compat (valgrind)" "${vg[@]}" "$out/abi_compat-plain"
    run_checked "teardown 2 rounds (valgrind)" "${vg[@]}" "$out/teardown-plain" 2
    for f in "${inputs[@]}"; do
        run_checked "discover --threads 2 $(basename "$f") (valgrind)" "${vg[@]}" "$out/discover-plain" --threads 2 "$f"
    done
    run_checked "discover --threads 2 --structs (valgrind)" "${vg[@]}" "$out/discover-plain" --threads 2 --structs "${inputs[0]}"
elif [ -n "${CI:-}" ]; then
    echo "FAILED: valgrind is not installed and could not be installed (CI is set)" >&2
    exit 1
else
    echo "== valgrind not installed: skipped (apt-get install -y valgrind)"
fi
echo "== all sanitizer runs clean"
