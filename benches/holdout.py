#!/usr/bin/env python3
"""Holdout captures: public captures OUTSIDE the corpus, scored as a new user would.

  holdout.py select MIRRORS_DIR SOURCES_TSV     choose captures from fetched bare git repos
                                                (MIRRORS_DIR/<owner>+<name>/repo) and write the list;
                                                HOLDOUT_SOURCES="owner/name:prefix:quota:short;..."
                                                picks other sources, HOLDOUT_EXCLUDE=LIST.tsv,... skips
                                                the captures of earlier lists
  holdout.py extract MIRRORS_DIR SOURCES_TSV OUT extract the listed captures to OUT/pcap
                                                (byte-identical, sha256 checked)
  holdout.py categories OUT                     write OUT/categories.tsv: per tshark flow, whether
                                                it is tunnelled, fragmented or has TSO/GRO-sized
                                                packets (tshark decides, not cloudsight)

Selection excludes every capture whose sha256 or (repo, path) is in the corpus MANIFEST.tsv,
duplicates (by sha256), files over MAX_SIZE and file types other than pcap/pcapng.  Within each
source the order is deterministic: names that suggest the categories we care about (TLS, QUIC,
HTTP, DNS, tunnels, fragments, TSO) first, then the rest by sha256, up to the source's quota.
Captures tshark cannot read are dropped at extract time (and reported).
"""
import csv
import hashlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

MAX_SIZE = 5 * 1024 * 1024
CORPUS_MANIFEST = os.environ.get(
    "CLOUDSIGHT_CORPUS_MANIFEST",
    os.path.join(os.path.dirname(__file__), "../../shared/corpus/MANIFEST.tsv"))

# (repo, path prefix, quota, name prefix)
SOURCES = [
    ("ntop/nDPI", "tests/cfgs/", 170, "ndpi"),
    ("zeek/zeek", "testing/btest/Traces/", 110, "zeek"),
    ("OISF/suricata-verify", "tests/", 70, "sv"),
    ("the-tcpdump-group/tcpdump", "tests/", 30, "tcpdump"),
]
EXT = re.compile(r"\.(pcap|pcapng|cap|trace)$", re.I)
LIKED = re.compile(
    r"tls|ssl|quic|http|dns|sni|gre|vxlan|gtp|tunnel|teredo|ipip|ip-in-ip|6in4|4in6|mpls|pppoe|"
    r"geneve|erspan|vlan|qinq|frag|tso|gso|gro|jumbo|ipv6|tcp|udp|google|youtube|facebook|"
    r"netflix|zoom|teams|whatsapp|tiktok|amazon|microsoft|apple|dropbox|spotify", re.I)
# Not what cloudsight is for, or not flows: skip by name.
DISLIKED = re.compile(r"fuzz|crash|oss-fuzz|malformed|corrupt|invalid|bad|truncat|trunc|broken", re.I)


def git(gitdir, *args, binary=False):
    out = subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode()


def gitdir(mirrors, repo):
    return os.path.join(mirrors, repo.replace("/", "+"), "repo")


def corpus_exclusions():
    shas, paths = set(), set()
    with open(CORPUS_MANIFEST) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            shas.add(row["sha256"])
            paths.add((row["source_repo"], row["path"]))
    return shas, paths


def sources():
    """SOURCES, or HOLDOUT_SOURCES="owner/name:prefix:quota:short;..." for another holdout."""
    spec = os.environ.get("HOLDOUT_SOURCES")
    if not spec:
        return SOURCES
    out = []
    for item in filter(None, spec.split(";")):
        repo, prefix, quota, short = item.split(":")
        out.append((repo, prefix, int(quota), short))
    return out


def earlier_holdouts():
    """sha256s of the captures of the lists in HOLDOUT_EXCLUDE (comma-separated TSV paths): a new
    holdout takes none of an earlier one's captures."""
    shas = set()
    for path in filter(None, os.environ.get("HOLDOUT_EXCLUDE", "").split(",")):
        with open(path) as f:
            shas.update(row["sha256"] for row in csv.DictReader(f, delimiter="\t"))
    return shas


def select(mirrors, out_tsv):
    shas, paths = corpus_exclusions()
    seen = set(shas) | earlier_holdouts()
    rows = []
    for repo, prefix, quota, short in sources():
        gd = gitdir(mirrors, repo)
        if not os.path.isdir(gd):
            print(f"skip {repo}: not fetched at {gd}", file=sys.stderr)
            continue
        commit = git(gd, "rev-parse", "HEAD").strip()
        cands = []
        for line in git(gd, "ls-tree", "-r", "-l", "-z", commit, "--", prefix or ".").split("\0"):
            if "\t" not in line:
                continue
            meta, path = line.split("\t", 1)
            parts = meta.split()
            if len(parts) != 4 or not parts[3].isdigit():
                continue
            _mode, kind, blob, size = parts
            if kind != "blob" or not EXT.search(path) or size == "-" or int(size) > MAX_SIZE:
                continue
            if int(size) < 200 or (repo, path) in paths or DISLIKED.search(path):
                continue
            cands.append((path, blob, int(size)))
        # Deterministic: liked names first, then by blob id (a stable pseudo-random order).
        cands.sort(key=lambda c: (not LIKED.search(c[0]), c[1]))
        taken = 0
        for path, blob, size in cands:
            if taken >= quota:
                break
            data = git(gd, "cat-file", "blob", blob, binary=True)
            if data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a",
                                b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
                continue  # LFS pointer, gzip, or not a capture
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:
                continue
            seen.add(sha)
            base = re.sub(r"[^A-Za-z0-9._-]+", "_", path[len(prefix):].replace("/", "_"))
            name = f"{short}_{base}"
            if not re.search(r"\.(pcap|pcapng|cap)$", name, re.I):
                name += ".pcap"
            rows.append((name, repo, commit, path, sha, size))
            taken += 1
        print(f"{repo}: {taken} of {len(cands)} candidates", file=sys.stderr)
    with open(out_tsv, "w") as f:
        f.write("name\trepo\tcommit\tpath\tsha256\tsize\n")
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")


def readable(path):
    p = subprocess.run(["tshark", "-n", "-r", path, "-c", "1", "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True)
    return p.returncode == 0 and p.stdout.strip() == "1"


def extract(mirrors, tsv, out):
    os.makedirs(os.path.join(out, "pcap"), exist_ok=True)
    kept = dropped = 0
    with open(tsv) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            dest = os.path.join(out, "pcap", row["name"])
            if not os.path.exists(dest):
                gd = gitdir(mirrors, row["repo"])
                data = git(gd, "show", f"{row['commit']}:{row['path']}", binary=True)
                if hashlib.sha256(data).hexdigest() != row["sha256"]:
                    sys.exit(f"{row['name']}: sha256 differs from the list")
                with open(dest, "wb") as w:
                    w.write(data)
            if readable(dest):
                kept += 1
            else:
                os.remove(dest)
                dropped += 1
                print(f"dropped (tshark cannot read it): {row['name']}", file=sys.stderr)
    print(f"extracted {kept} captures to {out}/pcap, dropped {dropped}", file=sys.stderr)


TUNNEL = re.compile(r":(gre|vxlan|gtp|geneve|erspan|mpls|pppoes|teredo|ayiya|l2tp|nsh|udpencap):|:ip:(ip|ipv6)[:$]|:ipv6:(ip|ipv6)[:$]")


def categories_of(path):
    fields = ["tcp.stream", "udp.stream", "frame.protocols", "ip.len", "ipv6.plen",
              "ip.fragment.count", "ipv6.fragment.count", "ip.reassembled_in", "icmp.type", "icmpv6.type"]
    cmd = ["tshark", "-n", "-r", path, "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=l"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WIRESHARK_CONFIG_DIR": "/nonexistent"})
    cats = {}
    for line in p.stdout.splitlines():
        c = line.split("\t")
        c += [""] * (len(fields) - len(c))
        tcp, udp, protos, iplen, plen, fc4, fc6, _r, icmp, icmp6 = c[:10]
        if icmp or icmp6:
            continue  # quoted headers in ICMP errors define no flow
        if tcp:
            key = ("tcp", tcp)
        elif udp:
            key = ("udp", udp)
        else:
            continue
        s = cats.setdefault(key, set())
        if TUNNEL.search(protos + ":"):
            s.add("tunnel")
        if fc4 or fc6:
            s.add("fragments")
        n = int(iplen) if iplen.isdigit() else (int(plen) + 40 if plen.isdigit() else None)
        if n is not None and (n > 1500 or (n == 0 and "ip" in protos.split(":"))):
            s.add("tso")
    return cats


def categories(out):
    names = sorted(os.listdir(os.path.join(out, "pcap")))

    def one(name):
        return name, categories_of(os.path.join(out, "pcap", name))

    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(one, names))
    with open(os.path.join(out, "categories.tsv"), "w") as f:
        f.write("file\tproto\tstream\tcategories\n")
        for name, cats in results:
            for (proto, stream), s in sorted(cats.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
                if s:
                    f.write(f"{name}\t{proto}\t{stream}\t{','.join(sorted(s))}\n")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "select":
        select(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 3 and sys.argv[1] == "categories":
        categories(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
