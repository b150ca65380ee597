#!/usr/bin/env bash
# Package check: install the C library with cargo-c into a temporary prefix, the way a distribution
# would, and build and run the C and C++ examples against it through pkg-config and CMake.
#
#   1. installs cargo-c (pinned) when `cargo cinstall` is missing, cmake and pkg-config when missing;
#   2. `cargo cinstall --release` into a temporary prefix, then checks the layout: libcloudsight.a,
#      libcloudsight.so -> .so.0.1 -> .so.<version> (SONAME libcloudsight.so.0.1),
#      include/cloudsight/cloudsight.h (identical to include/cloudsight.h), lib/pkgconfig/cloudsight.pc;
#   3. `pkg-config --cflags --libs cloudsight` (printed and checked);
#   4. configures and builds examples/cmake twice, shared (default) and static
#      (-DCLOUDSIGHT_LINK_STATIC=ON), and runs discover_c and discover_cpp on
#      examples/data/sample.pcap (exit 0, JSON lines, the same records) and policy_c.
# Exits non-zero on any failure.
#
# Usage (from anywhere): .ci/package.sh
# Honors CARGO_TARGET_DIR, CC and CXX. KEEP_PACKAGE_TMP=1 keeps the temporary directory.
set -euo pipefail

CARGO_C_VERSION="0.10.24"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '== %s\n' "$*"; }
die() { printf 'package.sh: FAILED: %s\n' "$*" >&2; exit 1; }

# cargo-c always builds with `--features capi`, so the crate must declare that (empty) feature.
if ! awk '/^\[/{in_f = ($0 == "[features]")} in_f && /^capi[ \t]*=/{found = 1} END{exit !found}' Cargo.toml; then
    die "Cargo.toml has no \`capi\` feature; cargo-c needs one: add \`[features]\` with \`capi = []\`"
fi

# ---- tools ----------------------------------------------------------------------------------------
if ! cargo cinstall --version >/dev/null 2>&1; then
    say "installing cargo-c $CARGO_C_VERSION (cargo install --locked)"
    cargo install --locked cargo-c --version "$CARGO_C_VERSION"
fi
say "$(cargo cinstall --version 2>&1 | sed -n 1p)"

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (apt-get)"
    sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    if ! "${sudo[@]}" apt-get install -y "${missing[@]}"; then
        "${sudo[@]}" apt-get update
        "${sudo[@]}" apt-get install -y "${missing[@]}"
    fi
fi
say "$(cmake --version | sed -n 1p); pkg-config $(pkg-config --version)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cloudsight-package.XXXXXX")"
if [ "${KEEP_PACKAGE_TMP:-0}" = 1 ]; then
    say "keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
prefix="$tmp/prefix"

# ---- install --------------------------------------------------------------------------------------
say "cargo cinstall --profile ship --prefix $prefix"
cargo cinstall -p cloudsight --profile ship --locked --prefix "$prefix" --libdir "$prefix/lib" \
    --includedir "$prefix/include"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p;T;q' Cargo.toml)"
# The SONAME carries major.minor while the major is 0 (an 0.x minor may change the ABI).
major="$(echo "$version" | cut -d. -f1-2)"
lib="$prefix/lib"
for f in libcloudsight.a "libcloudsight.so.$version" "libcloudsight.so.$major" libcloudsight.so \
         pkgconfig/cloudsight.pc; do
    [ -e "$lib/$f" ] || die "not installed: lib/$f"
done
[ -L "$lib/libcloudsight.so" ] && [ -L "$lib/libcloudsight.so.$major" ] \
    || die "libcloudsight.so and .so.$major should be symlinks"
if command -v readelf >/dev/null; then
    soname="$(readelf -d "$lib/libcloudsight.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    [ "$soname" = "libcloudsight.so.$major" ] || die "SONAME is '$soname', expected libcloudsight.so.$major"
    say "SONAME $soname"
fi
# ---- what ships: debug info apart, only cloudsight_* visible --------------------------------------
# binutils may load an LLVM gold plugin older than rustc's LLVM; name the GCC one explicitly.
plugin=()
for p in /usr/lib/bfd-plugins/liblto_plugin.so /usr/libexec/gcc/*/*/liblto_plugin.so; do
    [ -f "$p" ] && { plugin=(--plugin "$p"); break; }
done
so="$lib/libcloudsight.so.$version"
mkdir -p "$lib/debug"
objcopy --only-keep-debug "$so" "$lib/debug/libcloudsight.so.$version.debug"
objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$lib/debug/libcloudsight.so.$version.debug" "$so"
# The static library: one relocatable object (ld -r) whose only global definitions are the
# exports, so the Rust runtime and compiler builtins inside cannot collide with another Rust
# static library the vendor links; debug info moved apart as for the .so.
work="$tmp/static"
mkdir -p "$work"
ld -r --whole-archive "$lib/libcloudsight.a" -o "$work/all.o"
readelf -sW "$work/all.o" | awk '$5=="GLOBAL" && $7!="UND" {print $8}' | grep '^cloudsight_' >"$work/keep.txt"
objcopy --only-keep-debug "$work/all.o" "$lib/debug/libcloudsight.a.debug"
objcopy --strip-debug --keep-global-symbols="$work/keep.txt" "$work/all.o" "$work/cloudsight.o"
rm -f "$lib/libcloudsight.a"
ar "${plugin[@]}" rcs "$lib/libcloudsight.a" "$work/cloudsight.o"
exports="$(wc -l <"$work/keep.txt")"
globals_a="$(readelf -sW "$work/cloudsight.o" | awk '($5=="GLOBAL"||$5=="WEAK") && $7!="UND"' | wc -l)"
globals_so="$(readelf -sW --dyn-syms "$so" | awk '($5=="GLOBAL"||$5=="WEAK") && $7!="UND"' | grep -c cloudsight_ || true)"
[ "$globals_a" -eq "$exports" ] || die "libcloudsight.a defines $globals_a global symbols, expected the $exports exports"
# Each check reads the tool's whole output into a variable first: under pipefail, `tool | grep -q`
# fails at random when grep exits at its first match and the tool dies of SIGPIPE.
symbols="$(readelf -sW "$work/cloudsight.o")"
if grep -q 'cloudsight_test' <<<"$symbols"; then die "a test hook is exported"; fi
sections="$(readelf -S "$so")"
if grep -q '\.debug_info' <<<"$sections"; then die "the shipped .so still has debug info"; fi
glibc="$(readelf -sW --dyn-syms "$so" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -V | tail -n 1)"
say "shipped: libcloudsight.so $(du -h "$so" | cut -f1) ($globals_so cloudsight_* exports, needs $glibc), libcloudsight.a $(du -h "$lib/libcloudsight.a" | cut -f1) ($globals_a global symbols), debug info in lib/debug/"

header="$prefix/include/cloudsight/cloudsight.h"
[ -f "$header" ] || die "not installed: include/cloudsight/cloudsight.h"
cmp -s "$header" include/cloudsight.h || die "installed header differs from include/cloudsight.h"
say "installed:"
(cd "$prefix" && find . \( -type f -o -type l \) | sort | sed 's/^/   /')

# ---- pkg-config -----------------------------------------------------------------------------------
export PKG_CONFIG_PATH="$lib/pkgconfig"
flags="$(pkg-config --cflags --libs cloudsight)" || die "pkg-config --cflags --libs cloudsight"
say "pkg-config --cflags --libs cloudsight: $flags"
say "pkg-config --static --libs cloudsight: $(pkg-config --static --libs cloudsight)"
case " $flags " in *" -I$prefix/include/cloudsight "*) ;; *) die "Cflags lack -I$prefix/include/cloudsight" ;; esac
case " $flags " in *" -L$lib "*) ;; *) die "Libs lack -L$lib" ;; esac
case " $flags " in *" -lcloudsight "*) ;; *) die "Libs lack -lcloudsight" ;; esac
[ "$(pkg-config --modversion cloudsight)" = "$version" ] || die "pkg-config version is not $version"

# ---- CMake: build and run -------------------------------------------------------------------------
sample="$root/examples/data/sample.pcap"
[ -f "$sample" ] || die "missing $sample"

check_jsonl() { # name file: non-empty, one JSON object per line
    [ -s "$2" ] || die "$1 printed nothing"
    if grep -qv '^{.*}$' "$2"; then die "$1 printed a line that is not a JSON object"; fi
}

# The records without the fields that differ by design (flow ids, device), sorted.
normalize() {
    sed -e 's/"flow_id":[0-9]*,//' -e 's/,\{0,1\}"device":{[^}]*}//' "$1" | sort
}

for kind in shared static; do
    build="$tmp/build-$kind"
    opts=()
    [ "$kind" = static ] && opts+=(-DCLOUDSIGHT_LINK_STATIC=ON)
    say "cmake ($kind)"
    cmake -S examples/cmake -B "$build" -DCMAKE_BUILD_TYPE=Release "${opts[@]}" >"$tmp/cmake-$kind.log" \
        || { cat "$tmp/cmake-$kind.log" >&2; die "cmake configure ($kind)"; }
    cmake --build "$build" --parallel 2 || die "cmake --build ($kind)"

    if [ "$kind" = shared ]; then
        saved_ld_path="${LD_LIBRARY_PATH-}"
        export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        loads="$(ldd "$build/discover_c")"
        grep -qF "libcloudsight.so.$major => $lib/" <<<"$loads" \
            || { printf '%s\n' "$loads" >&2; die "discover_c does not load $lib/libcloudsight.so.$major"; }
    else
        loads="$(ldd "$build/discover_cpp")"
        if grep -q libcloudsight <<<"$loads"; then
            printf '%s\n' "$loads" >&2
            die "static build still loads libcloudsight.so"
        fi
    fi

    for prog in discover_c discover_cpp; do
        rc=0
        "$build/$prog" "$sample" >"$tmp/$prog-$kind.jsonl" 2>"$tmp/$prog-$kind.err" || rc=$?
        [ "$rc" -eq 0 ] || { cat "$tmp/$prog-$kind.err" >&2; die "$prog ($kind) on sample.pcap exited $rc"; }
        check_jsonl "$prog ($kind)" "$tmp/$prog-$kind.jsonl"
        say "$prog ($kind): $(wc -l <"$tmp/$prog-$kind.jsonl") records from sample.pcap"
    done
    diff <(normalize "$tmp/discover_c-$kind.jsonl") <(normalize "$tmp/discover_cpp-$kind.jsonl") \
        || die "discover_c and discover_cpp ($kind) disagree"
    "$build/policy_c" >"$tmp/policy-$kind.out" 2>&1 \
        || { cat "$tmp/policy-$kind.out" >&2; die "policy_c ($kind)"; }
    say "policy_c ($kind): $(cat "$tmp/policy-$kind.out")"
    if [ "$kind" = shared ]; then export LD_LIBRARY_PATH="$saved_ld_path"; fi
done
# Flush order is unspecified: compare the sorted records.
diff <(normalize "$tmp/discover_c-shared.jsonl") <(normalize "$tmp/discover_c-static.jsonl") \
    || die "the shared and static builds print different records"
head -n 2 "$tmp/discover_c-shared.jsonl"
say "package check passed"
