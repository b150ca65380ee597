#!/usr/bin/env bash
# Score cloudsight on public captures OUTSIDE the corpus (issue 15), as a new user would:
# Wireshark (tshark) truth, the corpus tests' own scoring.
#
#   benches/holdout.sh [OUT]            OUT defaults to ../holdout (next to the repository; never
#                                       inside it: the captures are not committed)
#   HOLDOUT_LIST=benches/holdout2-sources.tsv benches/holdout.sh ../holdout2
#                                       the second holdout: 214 captures of arkime/arkime,
#                                       google/gopacket, the-tcpdump-group/libpcap, CESNET/ipfixprobe
#                                       and secdev/scapy (fetched the same way)
#   HOLDOUT_LIST=benches/holdout3-sources.tsv benches/holdout.sh ../holdout3
#                                       the third: 221 captures of FoxIO-LLC/ja4,
#                                       seladb/PcapPlusPlus and chrissanders/packets
#   HOLDOUT_LIST=benches/holdout4-sources.tsv benches/holdout.sh ../holdout4
#                                       the fourth: 374 captures of cisco/mercury and more of
#                                       ntop/nDPI, zeek/zeek and OISF/suricata-verify
#
# Needs: the source repositories fetched as bare git directories under $MIRRORS
# (default /work/.mirror/<owner>+<name>/repo: ntop/nDPI, zeek/zeek, OISF/suricata-verify,
# the-tcpdump-group/tcpdump, at the commits of benches/holdout-sources.tsv), tshark (4.0.17 made the
# published figures) and python3. Steps:
#   1. extract the captures listed in benches/holdout-sources.tsv (repo, commit, path, sha256; the
#      list excludes every capture of the corpus MANIFEST.tsv by sha256 and by path) to OUT/pcap,
#      sha256-checked, dropping any tshark cannot read. HOLDOUT_SELECT=1 first re-selects the list
#      from the fetched HEADs (benches/holdout.py select).
#   2. truth: the corpus's groundtruth.py into OUT/truth; categories (tunnel, fragments, tso per
#      tshark flow) into OUT/categories.tsv.
#   3. score: CLOUDSIGHT_CORPUS_DIR=OUT cargo test --release --test corpus_flows --test corpus_names
#      (reports, and asserts the corpus's exact figures only on the default corpus).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out="${1:-$repo/../holdout}"
mirrors="${MIRRORS:-/work/.mirror}"
corpus="${CORPUS:-$repo/../shared/corpus}"
list="${HOLDOUT_LIST:-$here/holdout-sources.tsv}"
jobs="${JOBS:-2}"

if [[ "${HOLDOUT_SELECT:-0}" == 1 ]]; then
    CLOUDSIGHT_CORPUS_MANIFEST="$corpus/MANIFEST.tsv" python3 "$here/holdout.py" select "$mirrors" "$list"
fi
mkdir -p "$out"
python3 "$here/holdout.py" extract "$mirrors" "$list" "$out"
if [[ ! -f "$out/truth/SUMMARY.tsv" || "${HOLDOUT_TRUTH:-0}" == 1 ]]; then
    python3 "$corpus/groundtruth.py" "$out/pcap" "$out/truth" --jobs "$jobs"
fi
[[ -f "$out/categories.tsv" ]] || python3 "$here/holdout.py" categories "$out"
cd "$repo"
CLOUDSIGHT_CORPUS_DIR="$(cd "$out" && pwd)" cargo test --release --test corpus_flows --test corpus_names -- --nocapture 2>&1 |
    tee "$out/report.txt" | grep -E '^(summary|flows|named|corpus|test result| +[a-z_]+:)'
