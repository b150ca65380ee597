#!/usr/bin/env python3
"""Write the fuzz seed corpora (fuzz/seeds/<target>/) from the project's own test data:
examples/data/sample.pcap frames, src/inspect/testdata/*.bin and the embedded catalog. Files
named regression-* (inputs that crashed a target once) are kept.

    python3 fuzz/make_seeds.py          # rewrites fuzz/seeds/ (deterministic; < 1 MB in all)

QUIC seeds are also written in the form the fuzz build reads: under cfg(fuzzing) the decoder skips
AES-GCM and takes the protected payload as plaintext, so real Initials are decrypted here and
re-protected (header protection only) around their plaintext. That needs the `cryptography`
package; without it those seeds are skipped and the raw Initials are still written.
"""
import hashlib
import hmac
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
TESTDATA = os.path.join(ROOT, "src", "inspect", "testdata")


def read(*path):
    with open(os.path.join(ROOT, *path), "rb") as f:
        return f.read()


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_frames(data):
    """(timestamp_ns, frame) of a classic pcap (either byte order, us or ns)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    else:
        e = ">"
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        out.append((sec * 10**9 + (frac if nanos else frac * 1000), data[off:off + incl]))
        off += incl
    return link, out


def ip_of_ethernet(frame):
    """The IP packet inside an Ethernet frame (802.1Q tags skipped), or None."""
    off = 12
    while off + 2 <= len(frame):
        et = struct.unpack(">H", frame[off:off + 2])[0]
        if et in (0x8100, 0x88A8):
            off += 4
            continue
        if et in (0x0800, 0x86DD):
            return frame[off + 2:]
        return None
    return None


def five_tuple(ip):
    """(proto, sorted endpoints), l4 payload, sender endpoint, tcp seq — or None."""
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4:
        ihl = (ip[0] & 15) * 4
        proto = ip[9]
        src, dst = ip[12:16], ip[16:20]
        l4 = ip[ihl:]
    elif v == 6:
        proto = ip[6]
        src, dst = ip[8:24], ip[24:40]
        l4 = ip[40:]
    else:
        return None
    if proto not in (6, 17) or len(l4) < 8:
        return None
    sport, dport = struct.unpack(">HH", l4[:4])
    if proto == 6:
        hl = (l4[12] >> 4) * 4
        payload = l4[hl:]
        seq = struct.unpack(">I", l4[4:8])[0]
    else:
        payload = l4[8:]
        seq = 0
    a, b = sorted([(src, sport), (dst, dport)])
    return (proto, a, b), payload, (src, sport), seq, sport, dport


def frames_seed(link_index, step, frames):
    out = bytes([link_index, step])
    for f in frames:
        out += struct.pack("<H", len(f)) + f
    return out


# ---- Tunnels (the formats of src/packet.rs; the Rust builders are testkit/src/encap.rs) ----

ETH_HEADER = b"\x04" * 6 + b"\x02" * 6


def ether_type(ip):
    return 0x86DD if ip[0] >> 4 == 6 else 0x0800


def outer_ipv4(protocol, payload):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, protocol, 0,
                       bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])) + payload


def outer_udp(sport, dport, payload):
    return outer_ipv4(17, struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload)


def ppp_protocol(ip):
    return 0x0057 if ip[0] >> 4 == 6 else 0x0021


def nflog(ip):
    tlv = lambda t, v: struct.pack("<HH", 4 + len(v), t) + v + b"\x00" * (-len(v) % 4)
    return bytes([10 if ip[0] >> 4 == 6 else 2, 0, 0, 0]) + tlv(10, b"drop\x00") + tlv(9, ip)


def pppoe_qinq(ip):
    session = struct.pack(">BBHHH", 0x11, 0, 0x1234, 2 + len(ip), ppp_protocol(ip)) + ip
    return ETH_HEADER + struct.pack(">HHHHH", 0x88A8, 100, 0x8100, 200, 0x8864) + session


def mpls_ethernet(ip):
    return ETH_HEADER + struct.pack(">HII", 0x8847, (16 << 12) | 64, (17 << 12) | 0x100 | 64) + ip


def gre(ip):
    return outer_ipv4(47, struct.pack(">BBHII", 0x30, 0, ether_type(ip), 7, 1) + ip)


def gre_ppp(ip):
    ppp = struct.pack(">BBH", 0xFF, 0x03, ppp_protocol(ip)) + ip
    return outer_ipv4(47, struct.pack(">BBHHHII", 0x30, 0x81, 0x880B, len(ppp), 5, 1, 1) + ppp)


def vxlan(ip):
    return outer_udp(50000, 4789, struct.pack(">II", 0x08000000, 42 << 8) + ETH_HEADER
                     + struct.pack(">H", ether_type(ip)) + ip)


def ip_in_ip(ip):
    return outer_ipv4(41 if ip[0] >> 4 == 6 else 4, ip)


def ayiya(ip):
    # Forward, a 16-byte identity and a SHA-1 signature.
    head = bytes([0x41, 0x52, 0x11, 41 if ip[0] >> 4 == 6 else 4]) + b"\x00" * 4
    return outer_udp(40000, 5072, head + b"\x5a" * 36 + ip)


def ah_ipcomp(ip):
    # IPsec AH (24 bytes), then IPComp (RFC 3173) with the raw DEFLATE of the inner packet.
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    comp = deflate.compress(ip) + deflate.flush()
    ah = bytes([108, 4]) + b"\x00\x00" + struct.pack(">II", 0x1000, 1) + b"\x00" * 12
    return outer_ipv4(51, ah + bytes([41 if ip[0] >> 4 == 6 else 4, 0, 0x63, 0xE1]) + comp)


def llc_snap(ip):
    return b"\xaa\xaa\x03\x00\x00\x00" + struct.pack(">H", ether_type(ip)) + ip


def wlan_data(flags, qos, body):
    # Data (QoS data with the QoS control's first byte `qos`), duration, three addresses,
    # sequence control; a fourth address with ToDS and FromDS; HT control with QoS and +HTC.
    f = bytes([0x88 if qos is not None else 0x08, flags, 0x2C, 0]) + b"\x0a" * 6 + b"\x0b" * 6
    f += b"\x0c" * 6 + struct.pack("<H", 0x123 << 4)
    if flags & 3 == 3:
        f += b"\x0d" * 6
    if qos is not None:
        f += bytes([qos | 5, 0])
        if flags & 0x80:
            f += b"\x11\x22\x33\x44"
    return f + body


def amsdu(ips):
    out = b""
    for i, ip in enumerate(ips):
        msdu = llc_snap(ip)
        out += b"\x0a" * 6 + b"\x0c" * 6 + struct.pack(">H", len(msdu)) + msdu
        if i + 1 < len(ips):
            out += b"\x00" * (-len(out) % 4)
    return out


def radiotap(fcs, frame):
    # Present: TSFT, Flags, Rate; the TSFT at offset 8, the flags (FCS at the end: 0x10) at 16.
    head = struct.pack("<BBHIQBB", 0, 0, 18, 0x7, 0x0102030405060708, 0x10 if fcs else 0, 0x0C)
    return head + frame + (b"\xf1\xf2\xf3\xf4" if fcs else b"")


def aruba(ip):
    # Aruba's GRE (0x8240) carrying an 802.11 QoS data frame from the AP with an A-MSDU.
    wlan = wlan_data(0x02, 0x80, amsdu([ip, ip]))
    return outer_ipv4(47, struct.pack(">BBH", 0, 0, 0x8240) + wlan)


# Link layers, indices of the testkit's LINK_TYPES: ARCNET BSD (9), PPP (10), FDDI (11), PPP in
# HDLC framing (12), Cisco HDLC (13), ARCNET Linux (14), PPI around Ethernet (15), 802.11 (16),
# 802.11 with Prism (17), radiotap (18) and AVS (19) headers.
def link_layers(ip):
    v6 = ip[0] >> 4 == 6
    ppp = b"\xff\x03" + struct.pack(">H", 0x57 if v6 else 0x21) + ip
    arc = bytes([0xC4 if v6 else 0xD4, 0, 0x12, 0x34]) + ip
    return [
        (9, b"\xbe\x50" + arc),
        (10, ppp),
        (11, b"\x50" + b"\x04" * 6 + b"\x02" * 6 + b"\xaa\xaa\x03\x00\x00\x00"
         + struct.pack(">H", ether_type(ip)) + ip),
        (12, ppp),
        (13, b"\x0f\x00" + struct.pack(">H", ether_type(ip)) + ip),
        (14, b"\xbe\x50\xab\x08" + arc),
        (15, struct.pack("<BBHI", 0, 0, 8, 1) + ETH_HEADER + struct.pack(">H", ether_type(ip)) + ip),
        (16, wlan_data(0x03 | 0x80, 0, llc_snap(ip))),
        (17, struct.pack("<II", 0x44, 144) + b"wlan0".ljust(136, b"\x00") + wlan_data(0x01, None, llc_snap(ip))),
        (18, radiotap(True, wlan_data(0x02, 0x80, amsdu([ip, ip])))),
        (19, struct.pack(">II", 0x80211002, 64) + b"\x00" * 56 + wlan_data(0x01, 0, llc_snap(ip))),
    ]


def gtp_u(ip):
    # Sequence number and one PDU session container extension header.
    body = struct.pack(">HBB", 1, 0, 0x85) + bytes([1, 0, 9, 0]) + ip
    return outer_udp(2152, 2152, struct.pack(">BBHI", 0x36, 255, len(body), 0x1234) + body)


# ---- QUIC: decrypt real client Initials, re-protect around the plaintext (cfg(fuzzing) form) ---

QUIC_SALTS = {
    0x00000001: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic "),
    0x6B3343CF: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 "),
    0xFF00001D: (bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"), b"quic "),
}


def fuzz_form_initials(datagram):
    """Each Initial of the datagram with its ciphertext replaced by its plaintext (+16-byte tag)
    and header protection re-applied over the new sample; None if anything does not fit."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
    except ImportError:
        return None

    def expand(secret, label, length):
        # HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
        lab = b"tls13 " + label
        info = struct.pack(">H", length) + bytes([len(lab)]) + lab + b"\x00"
        return HKDFExpand(hashes.SHA256(), length, info).derive(secret)

    def hp_mask(hp, sample):
        enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
        return enc.update(sample) + enc.finalize()

    out = b""
    pos = 0
    while pos < len(datagram):
        pkt = datagram[pos:]
        if not pkt[0] & 0x80:
            break
        version = struct.unpack(">I", pkt[1:5])[0]
        if version not in QUIC_SALTS:
            return None
        salt, prefix = QUIC_SALTS[version]
        dcil = pkt[5]
        dcid = pkt[6:6 + dcil]
        p = 6 + dcil
        scil = pkt[p]
        p += 1 + scil

        def varint(buf, i):
            b = buf[i]
            n = 1 << (b >> 6)
            v = b & 0x3F
            for k in range(1, n):
                v = (v << 8) | buf[i + k]
            return v, i + n

        tok_len, p = varint(pkt, p)
        p += tok_len
        length, p = varint(pkt, p)
        pn_off = p
        initial = hmac.new(salt, dcid, hashlib.sha256).digest()  # HKDF-Extract
        client = expand(initial, b"client in", 32)
        key = expand(client, prefix + b"key", 16)
        iv = expand(client, prefix + b"iv", 12)
        hp = expand(client, prefix + b"hp", 16)
        sample = pkt[pn_off + 4:pn_off + 20]
        mask = hp_mask(hp, sample)
        first = pkt[0] ^ (mask[0] & 0x0F)
        pn_len = (first & 3) + 1
        pn_bytes = bytes(x ^ y for x, y in zip(pkt[pn_off:pn_off + pn_len], mask[1:1 + pn_len]))
        pn = int.from_bytes(pn_bytes, "big")
        header = bytes([first]) + pkt[1:pn_off] + pn_bytes
        end = pn_off + length
        ct = pkt[pn_off + pn_len:end]
        nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big")))
        try:
            plain = AESGCM(key).decrypt(nonce, ct, header)
        except Exception:
            return None
        body = plain + b"\x00" * 16
        new_sample = body[4 - pn_len:4 - pn_len + 16]
        m2 = hp_mask(hp, new_sample)
        pfirst = first ^ (m2[0] & 0x0F)
        ppn = bytes(x ^ y for x, y in zip(pn_bytes, m2[1:1 + pn_len]))
        out += bytes([pfirst]) + pkt[1:pn_off] + ppn + body
        pos += end
    out += datagram[pos:]
    return out if out else None


def main():
    # Regenerate everything but the crash reproducers kept as regression seeds.
    for dp, _, fs in os.walk(OUT):
        for f in fs:
            if not f.startswith("regression-"):
                os.remove(os.path.join(dp, f))

    link, frames = pcap_frames(read("examples", "data", "sample.pcap"))
    assert link == 1, "sample.pcap is Ethernet"
    # Group frames by flow (the pcap is small: every flow becomes one seed).
    flows = {}
    order = []
    other = []
    for ts, f in frames:
        t = five_tuple(ip_of_ethernet(f))
        if t is None:
            other.append(f)
            continue
        key = t[0]
        if key not in flows:
            flows[key] = []
            order.append(key)
        flows[key].append((ts, f, t))

    tls_bins = [n for n in sorted(os.listdir(TESTDATA)) if not n.startswith(("aioquic", "rfc"))]
    quic_bins = [n for n in sorted(os.listdir(TESTDATA)) if n.startswith(("aioquic", "rfc"))]

    # packet: link index 1 (Ethernet) of the target's table, 1 s steps, one flow per seed.
    for key in order:
        write("packet", frames_seed(1, 1, [f for _, f, _ in flows[key]]))
    if other:
        write("packet", frames_seed(1, 0, other))
    # Raw IP (index 2) and SLL2 (index 7) forms of a few flows.
    for key in order[:6]:
        ips = [ip_of_ethernet(f) for _, f, _ in flows[key]]
        write("packet", frames_seed(2, 2, ips))
        write("packet", frames_seed(7, 3, [struct.pack(">HHI", 0x0800 if i[0] >> 4 == 4 else 0x86DD, 0, 1) + b"\x00\x01\x04\x06" + b"\x00" * 8 + i for i in ips]))

    # Tunnels around the raw IP packets of a few flows: NFLOG (index 8), PPPoE over QinQ and an
    # MPLS stack in Ethernet (1), GRE, GRE/PPP, VXLAN, IP in IP, GTP-U, AYIYA, Aruba's GRE and
    # AH + IPComp in raw IP (2).
    for key in order[:3]:
        ips = [ip_of_ethernet(f) for _, f, _ in flows[key]]
        write("packet", frames_seed(8, 1, [nflog(i) for i in ips]))
        for wrap in (pppoe_qinq, mpls_ethernet):
            write("packet", frames_seed(1, 1, [wrap(i) for i in ips]))
        for wrap in (gre, gre_ppp, vxlan, ip_in_ip, gtp_u, ayiya, aruba, ah_ipcomp):
            write("packet", frames_seed(2, 1, [wrap(i) for i in ips]))
        for index in range(9, 20):
            write("packet", frames_seed(index, 1, [dict(link_layers(i))[index] for i in ips]))

    # tls_reassembly: [isn u32, flag] + (seq u32, len u16, bytes)*
    def segs(isn, parts, with_isn=True):
        out = struct.pack("<IB", isn, 1 if with_isn else 0)
        for seq, b in parts:
            out += struct.pack("<IH", seq & 0xFFFFFFFF, len(b)) + b
        return out

    for n in tls_bins:
        hello = read("src", "inspect", "testdata", n)
        write("tls_reassembly", segs(1000, [(1000, hello)]))
        chunks = [(1000 + i, hello[i:i + 100]) for i in range(0, len(hello), 100)]
        write("tls_reassembly", segs(1000, list(reversed(chunks))))
        write("tls_reassembly", segs(0xFFFFFF00, [(0xFFFFFF00 + i, hello[i:i + 64]) for i in range(0, len(hello), 64)]))
        write("tls_reassembly", segs(0, chunks + chunks[:2], with_isn=False))
    for key in order:
        parts = [(t[3], t[1]) for _, _, t in flows[key] if key[0] == 6 and t[1] and t[1][0] == 0x16]
        if parts:
            write("tls_reassembly", segs(parts[0][0], parts))

    # quic_initial: (u16 len + datagram)*, raw and in the fuzz build's plaintext form.
    for n in quic_bins:
        dg = read("src", "inspect", "testdata", n)
        write("quic_initial", struct.pack("<H", len(dg)) + dg)
        plain = fuzz_form_initials(dg)
        if plain:
            write("quic_initial", struct.pack("<H", len(plain)) + plain)
    big = [read("src", "inspect", "testdata", n) for n in quic_bins if "big" in n]
    fz = [fuzz_form_initials(d) for d in big]
    if all(fz):
        write("quic_initial", b"".join(struct.pack("<H", len(d)) + d for d in reversed(fz)))
    for key in order:
        if key[0] == 17 and 443 in (key[1][1], key[2][1]):
            dgs = [t[1] for _, _, t in flows[key] if t[1] and t[1][0] & 0x80][:3]
            if dgs:
                write("quic_initial", b"".join(struct.pack("<H", len(d)) + d for d in dgs))

    # dns_http: DNS messages and HTTP requests as they are.
    for key in order:
        for _, _, t in flows[key]:
            payload, sport, dport = t[1], t[4], t[5]
            if key[0] == 17 and 53 in (sport, dport) and payload:
                write("dns_http", payload)
            if key[0] == 6 and payload[:4] in (b"GET ", b"POST", b"CONN", b"HEAD", b"PUT "):
                write("dns_http", payload)

    # catalog: the head of the embedded catalog, a few apps as TOML and JSON, host names.
    cat = read("src", "catalog", "default_catalog.toml").decode()
    lines = cat.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("apps = ["))
    apps = [l for l in lines[start + 1:] if l.strip().startswith("{ id")]
    write("catalog", ("schema_version = 1\n\napps = [\n" + "\n".join(apps[:12]) + "\n]\n").encode())
    write("catalog", ("schema_version = 1\n\n[[apps]]\nid = \"x\"\nname = \"X\"\ncategory = \"crm\"\nrisk = 3\ndomains = [\"x.example.com\"]\nhosts = [\"h.example.org\"]\n").encode())
    write("catalog", b'{"schema_version": 1, "apps": [{"id": "a", "name": "A", "category": "cloudStorage", "risk": 7, "domains": ["a.example"], "hosts": ["b.a.example"], "multi_tenant": true}]}')
    for host in [b"app.slack.com", b"evilslack.com", b"x.y.example.co.uk", b"WWW.GOOGLE.COM.", b"a.vercel.app"]:
        write("catalog", host)

    # capi: config bytes, then ops (see fuzz_targets/capi.rs): op 0 = raw frame (link index 1 =
    # Ethernet), 6 = tick, 8 = drain, 9 = drain_encoded, 7 = flush, 10 = load catalog.
    def capi_seed(frs, tail=b""):
        out = bytes([0, 31, 15, 7, 7, 0])  # device "", max_flows 31, queue 15, pending 7, frags 7
        for f in frs:
            f = f[:2047]
            out += bytes([0, 1]) + struct.pack("<H", len(f)) + f
        return out + tail

    tail = bytes([6]) + struct.pack("<H", 50) + b"\x00" + bytes([8, 3, 9, 2]) + struct.pack("<H", 300) + bytes([1, 7, 9, 1]) + struct.pack("<H", 4000) + b"\x01"
    for key in order[:24]:
        write("capi", capi_seed([f for _, f, _ in flows[key]][:12], tail))
    catalog_op = bytes([10]) + struct.pack("<H", 200) + ("schema_version = 1\napps = [" + apps[0][2:-1] + "]\n").encode()[:200].ljust(200, b" ") + bytes([1, 2, 64])
    write("capi", capi_seed([], catalog_op + bytes([11, 0, 1, 12, 0, 13])))

    # flow_diff: (sel, pair, flags, seq_lo, len, dt) + payload. A TCP handshake, a ClientHello
    # in 255-byte segments, data both ways, FINs, a new SYN on the same ports; UDP DNS and QUIC.
    def op(sel, pair, flags, seq, payload=b"", dt=1):
        return bytes([sel, pair, flags, seq, len(payload), dt]) + payload

    hello = read("src", "inspect", "testdata", "curl.bin")
    # pair: src index (low 2 bits), dst index (bits 2..): 0 = 10.0.0.1:40000, 2 = 34.120.1.9:443
    up, down = 0 | (2 << 2), 2 | (0 << 2)
    s = op(1, up, 0x02, 1) + op(1, down, 0x12, 9) + op(1, up, 0x10, 1)
    for i in range(0, len(hello), 255):
        s += op(1, up, 0x18, 1 + i // 255, hello[i:i + 255])
    s += op(1, down, 0x10, 9, b"\x17" * 200) + op(1, up, 0x11, 3) + op(1, down, 0x11, 9)
    s += op(1, up, 0x10, 4) + op(1, up, 0x02, 50, dt=2) + op(1, down, 0x04, 60, dt=200)
    write("flow_diff", s)
    dns = next((t[1] for k in order for _, _, t in flows[k] if k[0] == 17 and 53 in (t[4], t[5]) and t[1]), b"\x00" * 12)
    write("flow_diff", op(0, 0 | (3 << 2), 0, 0, dns[:255]) + op(0, 3 | (0 << 2), 0, 0, dns[:255]) + op(0, 0 | (2 << 2), 0, 0, b"x" * 40, dt=130))
    q = read("src", "inspect", "testdata", "aioquic_v1_0.bin")
    write("flow_diff", op(2, 0 | (1 << 1), 0, 0, q[:255]) + op(2, 1 | (0 << 1), 0, 0, q[255:510]) + op(3, 0 | (2 << 1), 0x02, 1) + op(3, 0 | (0 << 1), 0x02, 1, dt=255))

    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    count = sum(len(fs) for _, _, fs in os.walk(OUT))
    print(f"{count} seeds, {total} bytes in {OUT}")
    if total >= 1 << 20:
        sys.exit("seeds exceed 1 MB")


if __name__ == "__main__":
    main()
