#!/usr/bin/env bash
# cloudsight's `discover` vs nDPI's `ndpiReader` on the same large captures, in the same run: what a
# user runs, whole processes.
#
#   bash benches/compare_ndpi.sh            # from the repository root; needs ../shared/corpus
#
# Builds five captures (classic Ethernet pcap). Four from the corpus with `cloudsight-replicate`
# (cli/: N copies, addresses rewritten per copy so every copy makes new flows, time shifted):
#   tls     ndpi_teams.pcap                       (TLS-heavy)
#   mixed   ndpi_1kxun.pcap                       (HTTP, TLS, DNS, UDP)
#   quic    every QUIC capture (ndpi_quic*, retina_quic*, zeek_quic*, sv_quic*)
#   flood   the client QUIC Initials of those captures only: a flood of distinct QUIC connections
# and one generated here (python3):
#   syn     SYN_COUNT (500000) TCP SYNs from random sources and ports to 16 servers on port 443
# Then, alternating, RUNS times each, every one a whole process under /usr/bin/time -v:
#   discover CAPTURE               (default table output, to /dev/null; default threads: a reader
#                                  and nproc - 1 workers, at least one)
#   discover --threads NPROC CAPTURE  (the same with a worker per core besides the reader)
#   ndpiReader -q -i CAPTURE
# and prints a markdown table of medians: seconds, ratios (ndpiReader s / discover s) and peak RSS.
# Beside them, once per capture, the engine-only figures: `cloudsight-replay` (one thread, engine
# time only: parse, flows, inspection, records; no file reading) and ndpiReader's own
# "nDPI throughput" line (its pcap loop), in packets/s.
# Environment: RUNS (3), SCALE (1.0: multiplies the copy counts and the SYN count), BENCH_DIR (where
# the captures go; default /tmp/cloudsight-bench), INPUTS ("tls mixed quic flood syn"),
# CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SCALE=${SCALE:-1.0}
CORPUS=${CORPUS:-../shared/corpus/pcap}
TARGET=${CARGO_TARGET_DIR:-target}
BENCH_DIR=${BENCH_DIR:-/tmp/cloudsight-bench}
INPUTS=${INPUTS:-tls mixed quic flood syn}
mkdir -p "$BENCH_DIR"

need_apt() { # command package
    if ! command -v "$1" >/dev/null 2>&1; then
        if [ -n "${CI:-}" ]; then
            echo "installing $2" >&2
            apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
        else
            echo "compare_ndpi.sh: $1 is missing: sudo apt-get install -y $2 (or run with CI=1)" >&2
            exit 1
        fi
    fi
}
need_apt ndpiReader libndpi-bin
need_apt /usr/bin/time time
need_apt python3 python3

cargo build --release --quiet -p cloudsight-cli
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
# SYN flood: Ethernet/IPv4/TCP SYNs, random source address and port, 1 µs apart.
make_syn() { # count
    local out="$BENCH_DIR/syn-$1.pcap"
    if [ ! -s "$out" ]; then
        python3 - "$1" "$out.tmp" <<'PY'
import random, struct, sys
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(7)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    t0 = 1764000000
    out = []
    for i in range(n):
        src = struct.pack("!I", rnd.randrange(0x0B000000, 0xDF000000))
        dst = bytes([203, 0, 113, i % 16])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        tcp = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65536), 443,
                          rnd.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        frame = eth + ip + tcp
        out.append(struct.pack("<IIII", t0 + i // 1000000, i % 1000000, len(frame), len(frame)))
        out.append(frame)
        if len(out) >= 20000:
            f.write(b"".join(out))
            out.clear()
    f.write(b"".join(out))
print(f"syn: {n} SYNs -> {path}", file=sys.stderr)
PY
        mv "$out.tmp" "$out"
    fi
    realpath "$out"
}
declare -A FILE
for input in $INPUTS; do
    case $input in
    tls) FILE[tls]=$(make_capture tls 650 "$CORPUS/ndpi_teams.pcap") ;;
    mixed) FILE[mixed]=$(make_capture mixed 300 "$CORPUS/ndpi_1kxun.pcap") ;;
    quic) FILE[quic]=$(make_capture quic 2000 "${QUIC[@]}") ;;
    flood) FILE[flood]=$(make_capture flood 2500 --initials-only "${QUIC[@]}") ;;
    syn) FILE[syn]=$(make_syn "$(copies "${SYN_COUNT:-500000}")") ;;
    *) echo "compare_ndpi.sh: unknown input $input" >&2 && exit 2 ;;
    esac
done

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
# timed NAME COMMAND...: one whole-process run, seconds and peak RSS appended to $TMP/NAME.{s,rss}
timed() {
    local name=$1
    shift
    (cd "$TMP" && /usr/bin/time -v -o "$TMP/t" "$@" >/dev/null 2>"$TMP/err") || {
        cat "$TMP/err" >&2
        exit 1
    }
    wall_of "$TMP/t" >>"$TMP/$name.s"
    rss_of "$TMP/t" >>"$TMP/$name.rss"
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "nproc $(nproc), load average at start: $(cut -d' ' -f1-3 /proc/loadavg), RUNS=$RUNS" >&2
printf '| capture | packets | discover s | ndpiReader s | ratio | discover --threads %s s | ratio | discover peak RSS | ndpiReader peak RSS | engine-only: replay pps | nDPI pps | engine ratio |\n' "$(nproc)"
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for input in $INPUTS; do
    f=${FILE[$input]}
    rm -f "$TMP"/*.s "$TMP"/*.rss
    for _ in $(seq "$RUNS"); do
        timed disc "$(realpath "$EX/discover")" "$f"
        timed nd ndpiReader -q -i "$f"
        timed disc1 "$(realpath "$EX/discover")" --threads "$(nproc)" "$f"
    done
    # Engine-only figures, once: each tool's own packets/s.
    "$EX/cloudsight-replay" "$f" >"$TMP/replay"
    packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$TMP/replay")
    our_pps=$(sed -n 's/.* pps=\([0-9.]*\).*/\1/p' "$TMP/replay")
    (cd "$TMP" && ndpiReader -i "$f" >"$TMP/ndout" 2>&1)
    nd_pps=$(ndpi_pps "$TMP/ndout")
    awk -v i="$input" -v p="$packets" -v d="$(median <"$TMP/disc.s")" -v n="$(median <"$TMP/nd.s")" \
        -v d1="$(median <"$TMP/disc1.s")" -v drss="$(median <"$TMP/disc.rss")" \
        -v nrss="$(median <"$TMP/nd.rss")" -v op="$our_pps" -v np="$nd_pps" 'BEGIN {
        printf "| %s | %d | %.2f | %.2f | %.1fx | %.2f | %.1fx | %.0f MiB | %.0f MiB | %.2f M | %.2f M | %.1fx |\n",
            i, p, d, n, n / d, d1, n / d1, drss / 1024, nrss / 1024, op / 1e6, np / 1e6, op / np }'
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
