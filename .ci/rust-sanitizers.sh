#!/usr/bin/env bash
# The Rust side under the nightly sanitizers and Miri (issue 13): the C examples' sanitizer run
# (.ci/c-sanitizers.sh) instruments only the C code.
#   1. Miri: the pure parsers (TLS hello, stream reassembly, naming) and the C ABI's struct-size
#      handling, checked for undefined behaviour under Stacked Borrows.
#   2. AddressSanitizer: the library's unit tests and the shared-flows stress test.
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

say "Miri: parsers, reassembly, naming, C ABI struct handling"
# Isolation off: the tests read the clock. Property tests and random-input loops are skipped
# (too slow interpreted; the fuzz targets cover that ground).
MIRIFLAGS="-Zmiri-disable-isolation" CARGO_TARGET_DIR=target/miri \
    cargo +nightly miri test --lib -- \
    capi::abi capi::tests naming:: inspect::stream inspect::name_tests inspect::tls::hello \
    --skip random --skip proptest

say "AddressSanitizer: library unit tests and the shared-flows stress test"
RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    ASAN_OPTIONS="detect_leaks=1" CARGO_TARGET_DIR=target/asan \
    cargo +nightly test --target "$host" --lib --test stress

say "ThreadSanitizer: shared engine and flow table"
RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" \
    TSAN_OPTIONS="halt_on_error=1" CARGO_TARGET_DIR=target/tsan \
    cargo +nightly test -Zbuild-std --target "$host" --lib --test stress -- \
    flow:: engine:: capi:: shared_flows
say "ok"
