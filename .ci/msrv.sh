#!/usr/bin/env bash
# Minimum supported Rust version check: the crate builds with the toolchain its Cargo.toml declares.
#
# Reads `rust-version` from the root Cargo.toml (`[package]` or `[workspace.package]`), takes the
# toolchain X.Y.0 for "X.Y" (X.Y.Z for "X.Y.Z"), and runs with it:
#   cargo +X.Y.0 check --locked --lib          (the library)
#   cargo +X.Y.0 check --locked --workspace    (every workspace member's lib and bins, when the
#                                               workspace has members besides the root package)
# fuzz/ is a workspace of its own (nightly only) and is not checked here.
#
# The toolchain must be installed. When it is missing: with CI set, the script installs it
# (`rustup toolchain install X.Y.0 --profile minimal`) and fails if that fails; without CI it fails
# and says how to install it. It never lets rustup download anything otherwise.
#
# Usage (from anywhere):
#   .ci/msrv.sh                 # the declared rust-version
#   MSRV=1.95 .ci/msrv.sh       # another version (e.g. to try a new MSRV before declaring it)
# Honors CARGO_TARGET_DIR (its builds go to <target-dir>/msrv so the main build is not redone).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'msrv.sh: FAILED: %s\n' "$*" >&2; exit 1; }

declared="$(sed -n 's/^[[:space:]]*rust-version[[:space:]]*=[[:space:]]*"\([0-9.]*\)".*/\1/p' Cargo.toml | sed -n 1p)"
if [ -n "${MSRV:-}" ]; then
    version="$MSRV"
    source_of_version="MSRV override (Cargo.toml declares ${declared:-nothing})"
else
    [ -n "$declared" ] || die "Cargo.toml declares no rust-version (add \`rust-version = \"X.Y\"\` to [package])"
    version="$declared"
    source_of_version="Cargo.toml rust-version"
fi

case "$version" in
    [0-9]*.[0-9]*.[0-9]*) toolchain="$version" ;;
    [0-9]*.[0-9]*) toolchain="$version.0" ;;
    *) die "rust-version \"$version\" is not X.Y or X.Y.Z" ;;
esac
case "$toolchain" in
    *[!0-9.]* | *..* | *.*.*.*) die "rust-version \"$version\" is not X.Y or X.Y.Z" ;;
esac

echo "== MSRV $version from $source_of_version: toolchain $toolchain"

command -v rustup >/dev/null 2>&1 || die "rustup is needed to select toolchain $toolchain"

installed() { local list; list="$(rustup toolchain list)"; grep -q "^$toolchain-" <<<"$list"; }

if ! installed; then
    if [ -n "${CI:-}" ]; then
        echo "== toolchain $toolchain missing; CI is set: installing it"
        rustup toolchain install "$toolchain" --profile minimal ||
            die "could not install toolchain $toolchain"
        installed || die "toolchain $toolchain still missing after installing it"
    else
        die "toolchain $toolchain is not installed (installed: $(rustup toolchain list | tr '\n' ' '))
  install it with: rustup toolchain install $toolchain --profile minimal"
    fi
fi

# Never let rustup fetch anything behind our back (components, another toolchain).
export RUSTUP_AUTO_INSTALL=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/msrv"

echo "== $(cargo "+$toolchain" --version)"
echo "== $(rustc "+$toolchain" --version)"

echo "== cargo +$toolchain check --locked --lib"
cargo "+$toolchain" check --locked --lib
checked="the library"

members="$(cargo "+$toolchain" metadata --no-deps --format-version 1 |
    grep -o '"workspace_members":\[[^]]*\]' | grep -o '"[^"]*"' | tail -n +2 || true)"
count="$(printf '%s' "$members" | grep -c . || true)"
if [ "$count" -gt 1 ]; then
    echo "== workspace members:"
    printf '%s\n' "$members" | sed 's/^"\(.*\)"$/     \1/'
    echo "== cargo +$toolchain check --locked --workspace"
    cargo "+$toolchain" check --locked --workspace
    checked="the library and $count workspace members"
fi

echo "msrv.sh: OK: $checked: checked with Rust $toolchain (MSRV $version)"
