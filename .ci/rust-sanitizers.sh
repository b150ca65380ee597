#!/usr/bin/env bash
# The Rust side under the nightly sanitizers and Miri (issue 13): the C examples' sanitizer run
# (.ci/c-sanitizers.sh) instruments only the C code.
#   1. Miri: the ClientHello parser, the stream reassembly buffer and the C ABI's struct-size
#      handling (the unsafe reads and writes of caller structs), checked for undefined behaviour
#      under Stacked Borrows. Interpreted code is ~1000x slower: the byte-mutation and random
#      loops are left to the fuzz targets (the hello tests took 7 min with them, here).
#   2. AddressSanitizer: the library's unit tests and the shared-flows stress test (the
#      million-flow eviction-order test is skipped: slow instrumented, nothing unsafe in it).
#   3. ThreadSanitizer (std rebuilt with it: -Zbuild-std): the tests where threads share one engine
#      or one flow table (flow table, engine, C handle teardown, shared-flows stress).
# Needs a nightly toolchain with the rust-src and miri components; when they are missing it
# installs them, and fails if that fails. Separate target directories (target/{miri,asan,tsan}).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*"; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    say "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal || die "could not install a nightly toolchain"
fi
rustup component add --toolchain nightly rust-src miri >/dev/null 2>&1 ||
    die "could not add rust-src and miri to the nightly toolchain"
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
export CARGO_TERM_COLOR=never

say "Miri: ClientHello parser, stream reassembly, C ABI struct handling"
# Isolation off: the tests read the clock.
MIRIFLAGS="-Zmiri-disable-isolation" CARGO_TARGET_DIR=target/miri \
    cargo +nightly miri test --lib -- \
    capi::abi inspect::stream inspect::tls::hello \
    --skip mutated --skip random --skip proptest

say "AddressSanitizer: library unit tests and the shared-flows stress test"
RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    ASAN_OPTIONS="detect_leaks=1" CARGO_TARGET_DIR=target/asan \
    cargo +nightly test --target "$host" --lib --test stress -- \
    --skip entries_of_ended_flows_do_not_pile_up

say "ThreadSanitizer: shared engine and flow table"
RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" \
    TSAN_OPTIONS="halt_on_error=1" CARGO_TARGET_DIR=target/tsan \
    cargo +nightly test -Zbuild-std --target "$host" --lib --test stress -- \
    flow:: engine:: capi:: shared_flows --skip entries_of_ended_flows_do_not_pile_up
say "ok"
