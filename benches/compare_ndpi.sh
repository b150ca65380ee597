#!/usr/bin/env bash
# cloudsight vs nDPI's ndpiReader on the same large captures, in the same run.
#
#   bash benches/compare_ndpi.sh            # from the repository root; needs ../shared/corpus
#
# Builds four captures from the corpus with `cloudsight-replicate` (cli/: N copies, addresses
# rewritten per copy so every copy makes new flows, time shifted, all written as classic Ethernet pcap):
#   tls     ndpi_teams.pcap                       (TLS-heavy)
#   mixed   ndpi_1kxun.pcap                       (HTTP, TLS, DNS, UDP)
#   quic    every QUIC capture (ndpi_quic*, retina_quic*, zeek_quic*, sv_quic*)
#   flood   the client QUIC Initials of those captures only: a flood of distinct QUIC connections
# then runs `cloudsight-replay` (cli/; cloudsight, streaming, no output) and `ndpiReader -i` on each,
# alternating, RUNS times each, both whole processes under /usr/bin/time -v, and prints a markdown
# table of medians. Throughput columns:
#   pps        each tool's own figure: cloudsight's engine time (parse, flows, inspection, records;
#              not the file reading), ndpiReader's "nDPI throughput" (its pcap loop)
#   wall pps   packets / elapsed time of the whole process (start-up, file reading included)
# Environment: RUNS (3), SCALE (1.0: multiplies the copy counts), BENCH_DIR (where the captures go),
# CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SCALE=${SCALE:-1.0}
CORPUS=${CORPUS:-../shared/corpus/pcap}
TARGET=${CARGO_TARGET_DIR:-target}
BENCH_DIR=${BENCH_DIR:-$TARGET/bench-captures}
mkdir -p "$BENCH_DIR"

need_apt() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "installing $2" >&2
        apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
    fi
}
need_apt ndpiReader libndpi-bin
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build --release --quiet -p cloudsight-cli --bin cloudsight-replicate --bin cloudsight-replay
EX="$TARGET/release"

copies() { awk -v n="$1" -v s="$SCALE" 'BEGIN { c = int(n * s); print (c < 1 ? 1 : c) }'; }
shopt -s nullglob
QUIC=("$CORPUS"/ndpi_quic* "$CORPUS"/retina_quic* "$CORPUS"/zeek_quic* "$CORPUS"/sv_quic*)
make_capture() { # name copies [--initials-only] inputs...
    local name=$1 n
    n=$(copies "$2")
    shift 2
    local out="$BENCH_DIR/$name-x$n.pcap"
    if [ ! -s "$out" ]; then
        "$EX/cloudsight-replicate" --copies "$n" "$out.tmp" "$@" >&2 && mv "$out.tmp" "$out"
    fi
    realpath "$out"
}
declare -A FILE
FILE[tls]=$(make_capture tls 650 "$CORPUS/ndpi_teams.pcap")
FILE[mixed]=$(make_capture mixed 300 "$CORPUS/ndpi_1kxun.pcap")
FILE[quic]=$(make_capture quic 2000 "${QUIC[@]}")
FILE[flood]=$(make_capture flood 2500 --initials-only "${QUIC[@]}")

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# /usr/bin/time -v fields: peak RSS in KiB, elapsed as [h:]m:s.
rss_of() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
wall_of() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}
# "nDPI throughput:       221.89 K pps / 805.71 Mb/sec"
ndpi_pps() {
    awk '/nDPI throughput:/ { v = $3; u = $4; if (u == "K") v *= 1e3; else if (u == "M") v *= 1e6;
        else if (u == "G") v *= 1e9; printf "%.0f\n", v }' "$1"
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '| input | packets | our pps | nDPI pps | ratio | our wall pps | nDPI wall pps | wall ratio | our peak RSS | nDPI peak RSS |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for input in tls mixed quic flood; do
    f=${FILE[$input]}
    : >"$TMP/our_pps" >"$TMP/nd_pps" >"$TMP/our_wall" >"$TMP/nd_wall" >"$TMP/our_rss" >"$TMP/nd_rss"
    packets=0
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$TMP/t" "$EX/cloudsight-replay" "$f" >"$TMP/out"
        packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$TMP/out")
        sed -n 's/.* pps=\([0-9.]*\).*/\1/p' "$TMP/out" >>"$TMP/our_pps"
        wall_of "$TMP/t" >>"$TMP/our_wall"
        rss_of "$TMP/t" >>"$TMP/our_rss"
        cat "$TMP/out" >>"$TMP/our_log"

        (cd "$TMP" && /usr/bin/time -v -o "$TMP/t" ndpiReader -i "$f" >"$TMP/out" 2>&1)
        ndpi_pps "$TMP/out" >>"$TMP/nd_pps"
        wall_of "$TMP/t" >>"$TMP/nd_wall"
        rss_of "$TMP/t" >>"$TMP/nd_rss"
    done
    our=$(median <"$TMP/our_pps")
    nd=$(median <"$TMP/nd_pps")
    ow=$(median <"$TMP/our_wall")
    nw=$(median <"$TMP/nd_wall")
    awk -v i="$input" -v p="$packets" -v o="$our" -v n="$nd" -v ow="$ow" -v nw="$nw" \
        -v orss="$(median <"$TMP/our_rss")" -v nrss="$(median <"$TMP/nd_rss")" 'BEGIN {
        printf "| %s | %d | %.2f M | %.2f M | %.1fx | %.2f M | %.2f M | %.1fx | %.0f MiB | %.0f MiB |\n",
            i, p, o / 1e6, n / 1e6, o / n, p / ow / 1e6, p / nw / 1e6, nw / ow, orss / 1024, nrss / 1024 }'
done
echo
echo "cloudsight runs:" >&2
cat "$TMP/our_log" >&2
