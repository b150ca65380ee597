#!/usr/bin/env bash
# Fuzz smoke test: every cargo-fuzz target for SECONDS seconds (default 20), starting from the
# committed seeds (fuzz/seeds/<target>/) plus a scratch corpus (fuzz/corpus/<target>/, ignored by
# git). Exits non-zero on the first crash, leak, timeout or OOM; the reproducer is in
# fuzz/artifacts/<target>/. Installs cargo-fuzz (pinned) when missing. Needs a nightly toolchain.
#
#   bash fuzz/smoke.sh 20           # CI
#   bash fuzz/smoke.sh 600 capi     # a longer run of one target
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${1:-20}"
shift || true
CARGO_FUZZ_VERSION=0.13.2

if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build of every target (debug assertions on: integer overflow is a crash too).
cargo +nightly fuzz build -O -a

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "=== fuzz $target: ${SECONDS_PER_TARGET}s ==="
  log="$(mktemp)"
  status=0
  cargo +nightly fuzz run -O -a "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  # libFuzzer's summary lines only; everything when it failed.
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    rm -f "$log"
    echo "fuzz $target FAILED (exit $status); reproducer under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz smoke: ${#targets[@]} targets x ${SECONDS_PER_TARGET}s, no crash"
