#!/usr/bin/env bash
# The C header compiles cleanly as C99, C11 and C++17 under gcc and clang with -Wall -Wextra
# -Wpedantic -Werror, also when the including code packs structs (#pragma pack(1)) before the
# #include: the header's own pragma and static asserts keep the layout the library's.
# Installs clang when CI is set and it is missing; fails when a compiler is missing under CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if ! command -v clang >/dev/null && [ -n "${CI:-}" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >/dev/null 2>&1 || true
fi

for pack in 0 1; do
    {
        [ "$pack" = 1 ] && echo '#pragma pack(1)'
        echo '#include "cloudsight.h"'
        echo 'int cloudsight_header_check(void);'
        echo 'int cloudsight_header_check(void) { return (int)sizeof(cloudsight_record); }'
    } >"$out/check_$pack.c"
    cp "$out/check_$pack.c" "$out/check_$pack.cpp"
done

checked=0
for cc in gcc clang; do
    if ! command -v "$cc" >/dev/null; then
        if [ -n "${CI:-}" ]; then echo "FAILED: $cc missing (CI is set)" >&2; exit 1; fi
        echo "skip: $cc not installed"; continue
    fi
    cxx=g++; [ "$cc" = clang ] && cxx=clang++
    for pack in 0 1; do
        for std in c99 c11; do
            "$cc" -std="$std" -Wall -Wextra -Wpedantic -Werror -I include -c "$out/check_$pack.c" -o "$out/o"
            echo "ok: $cc -std=$std$([ "$pack" = 1 ] && echo ' under #pragma pack(1)')"
            checked=$((checked + 1))
        done
        "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror -I include -c "$out/check_$pack.cpp" -o "$out/o"
        echo "ok: $cxx -std=c++17$([ "$pack" = 1 ] && echo ' under #pragma pack(1)')"
        checked=$((checked + 1))
    done
done
echo "header matrix: $checked compilations clean"
