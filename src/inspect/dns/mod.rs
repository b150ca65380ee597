//! DNS responses (RFC 1035 §4.1) become (question name, address, TTL) triples that fill a bounded,
//! concurrent IP -> name cache, which later names flows that carry no name of their own.
//! The parser borrows the message, never allocates and never panics, and rejects malformed input with a
//! [`DnsError`]; the cache never holds more than its capacity whatever the traffic, and never reads a clock.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod cache;

pub use cache::DnsCache;

/// Length of the fixed DNS header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// Longest name on the wire, length octets and root label included (RFC 1035 §2.3.4).
const MAX_NAME_WIRE: usize = 255;
/// Compression pointers followed for one name; the strictly-decreasing rule already ends every walk,
/// this only caps the work an adversarial message can ask for.
const MAX_POINTER_HOPS: usize = 64;
/// Names kept for the question's CNAME chain (question included). Real chains are shorter than 8.
const MAX_CHAIN: usize = 12;

/// RR TYPE values used here (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 9460 §14.2). Kept as integers so
/// unknown types are simply skipped.
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_SVCB: u16 = 64;
const TYPE_HTTPS: u16 = 65;
const CLASS_IN: u16 = 1;
/// SvcParamKeys carrying address hints (RFC 9460 §7.3).
const SVC_KEY_IPV4HINT: u16 = 4;
const SVC_KEY_IPV6HINT: u16 = 6;

/// Why a message was not walked to the end. When [`parse_response`] returns an error it has not
/// called its callback: a message yields all of its addresses or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside a header, name, RR or RDATA (a section count claims more than is there).
    Truncated,
    /// QR is 0: this is a query.
    NotResponse,
    /// OPCODE is not 0 (standard query), so the sections do not carry answers.
    UnsupportedOpcode,
    /// QDCOUNT is 0: there is no question to name the addresses with.
    NoQuestion,
    /// A name longer than 255 octets, or a label type other than plain (00) or pointer (11).
    BadName,
    /// A compression pointer that does not point strictly before the labels that led to it, which is
    /// how every loop is ruled out, or a name with too many pointers.
    PointerLoop,
    /// A compression pointer to an offset past the end of the message.
    BadPointer,
    /// RDATA whose length or content does not fit its type (A not 4 octets, AAAA not 16, a CNAME
    /// target or SvcParam running past RDLENGTH, a hint whose length is not a multiple of the address).
    BadRdata,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            DnsError::Truncated => "DNS message truncated",
            DnsError::NotResponse => "DNS message is a query",
            DnsError::UnsupportedOpcode => "DNS opcode is not QUERY",
            DnsError::NoQuestion => "DNS response without question",
            DnsError::BadName => "malformed DNS name",
            DnsError::PointerLoop => "DNS compression pointer loop",
            DnsError::BadPointer => "DNS compression pointer past end of message",
            DnsError::BadRdata => "malformed DNS RDATA",
        };
        f.write_str(text)
    }
}

impl std::error::Error for DnsError {}

/// Header fields of a response that [`parse_response`] walked successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInfo {
    /// Message ID, to pair the response with its query.
    pub id: u16,
    /// RCODE from the header (4 bits; the EDNS extended bits are not read).
    pub rcode: u8,
    /// ANCOUNT: answer-section RRs, all of which were walked.
    pub answers: u16,
    /// QTYPE of the first question.
    pub qtype: u16,
    /// TC bit: the server truncated the answer (the client will likely retry over TCP).
    pub truncated: bool,
    /// How many times the callback was called.
    pub addresses: u32,
}

/// Direction of a DNS message, used to orient a flow (the sender of a query is the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsKind {
    /// QR = 0.
    Query,
    /// QR = 1.
    Response,
}

/// Lower-cased dotted text of a name, on the stack. 253 octets is the most a 255-octet wire name gives.
struct NameBuf {
    len: usize,
    bytes: [u8; MAX_NAME_WIRE],
}

impl NameBuf {
    const fn new() -> Self {
        NameBuf {
            len: 0,
            bytes: [0; MAX_NAME_WIRE],
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push_label(&mut self, label: &[u8]) {
        let dot = usize::from(self.len > 0);
        let Some(dst) = self.bytes.get_mut(self.len..self.len + dot + label.len()) else {
            // Unreachable: read_name caps the wire length at 255, which bounds the text at 253.
            return;
        };
        if dot == 1 {
            dst[0] = b'.';
        }
        for (d, s) in dst[dot..].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        self.len += dot + label.len();
    }
}

fn be16(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    match msg.get(at..at.checked_add(2).ok_or(DnsError::Truncated)?) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(DnsError::Truncated),
    }
}

fn be32(msg: &[u8], at: usize) -> Result<u32, DnsError> {
    match msg.get(at..at.checked_add(4).ok_or(DnsError::Truncated)?) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(DnsError::Truncated),
    }
}

// RFC 1035 §3.1, §4.1.4 — a name is a sequence of labels, or labels ending in a pointer:
//   label   = len:u8 (top bits 00, 1..=63) octets[len]
//   root    = 0x00
//   pointer = 0b11 offset:14          (offset from the start of the message)
//   top bits 01 (RFC 6891 extended label) and 10 are not valid in a message: BadName.
// A conformant encoder only points at an earlier occurrence, so every pointer must land strictly
// before the start of the run of labels that led to it; the floor then falls at each hop and the walk
// ends. That rule rejects `a` + pointer-to-`a` as well as self and forward pointers.
/// Reads the name at `start`, returns the offset just after its in-place encoding (after the root label
/// or the first pointer), and writes its lower-cased dotted text into `out` when given.
fn read_name(msg: &[u8], start: usize, mut out: Option<&mut NameBuf>) -> Result<usize, DnsError> {
    if let Some(o) = out.as_deref_mut() {
        o.len = 0;
    }
    let mut pos = start;
    let mut floor = start;
    let mut end_in_place = None;
    let mut wire_len = 0usize;
    let mut hops = 0usize;
    loop {
        let len = usize::from(*msg.get(pos).ok_or(DnsError::Truncated)?);
        match len & 0xC0 {
            0x00 => {
                wire_len += len + 1;
                if wire_len > MAX_NAME_WIRE {
                    return Err(DnsError::BadName);
                }
                if len == 0 {
                    return Ok(end_in_place.unwrap_or(pos + 1));
                }
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(DnsError::Truncated)?;
                if let Some(o) = out.as_deref_mut() {
                    o.push_label(label);
                }
                pos += 1 + len;
            }
            0xC0 => {
                let low = usize::from(*msg.get(pos + 1).ok_or(DnsError::Truncated)?);
                let target = ((len & 0x3F) << 8) | low;
                end_in_place.get_or_insert(pos + 2);
                if target >= msg.len() {
                    return Err(DnsError::BadPointer);
                }
                hops += 1;
                if target >= floor || hops > MAX_POINTER_HOPS {
                    return Err(DnsError::PointerLoop);
                }
                floor = target;
                pos = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

/// One answer-section RR, located in the message.
#[derive(Clone, Copy)]
struct RrRef {
    owner: usize,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: usize,
    rdata_end: usize,
}

// RFC 1035 §4.1.3 — resource record:
//   NAME (name, §4.1.4 compression) | TYPE u16 | CLASS u16 | TTL u32 | RDLENGTH u16 | RDATA[RDLENGTH]
/// Calls `f` for each of the `count` RRs from `start`; returns the offset after the last one.
fn walk_rrs(
    msg: &[u8],
    start: usize,
    count: u16,
    mut f: impl FnMut(RrRef) -> Result<(), DnsError>,
) -> Result<usize, DnsError> {
    let mut pos = start;
    for _ in 0..count {
        let owner = pos;
        pos = read_name(msg, pos, None)?;
        let rtype = be16(msg, pos)?;
        let class = be16(msg, pos + 2)?;
        let ttl = be32(msg, pos + 4)?;
        let rdlength = usize::from(be16(msg, pos + 8)?);
        let rdata = pos + 10;
        let rdata_end = rdata + rdlength;
        if rdata_end > msg.len() {
            return Err(DnsError::Truncated);
        }
        f(RrRef {
            owner,
            rtype,
            class,
            ttl,
            rdata,
            rdata_end,
        })?;
        pos = rdata_end;
    }
    Ok(pos)
}

// RFC 1035 §3.3.1 CNAME RDATA: CNAME (name, may be compressed, §4.1.4).
/// Decodes a CNAME target, which must end within its RDATA.
fn read_cname(msg: &[u8], rr: RrRef, out: &mut NameBuf) -> Result<(), DnsError> {
    let end = read_name(msg, rr.rdata, Some(out))?;
    if end != rr.rdata_end {
        return Err(DnsError::BadRdata);
    }
    Ok(())
}

// RFC 9460 §2.2 SVCB / HTTPS RDATA:
//   SvcPriority u16 (0 = AliasMode: SvcParams ignored, §2.4.1)
//   TargetName  (uncompressed name)
//   SvcParams   { key u16 | length u16 | value[length] }* in the rest of RDATA
//   ipv4hint (key 4) value: IPv4 addresses, 4 octets each; ipv6hint (key 6): 16 octets each (§7.3).
/// Validates an SVCB/HTTPS RDATA and, in ServiceMode, calls `f` for each hinted address.
fn walk_svcb(msg: &[u8], rr: RrRef, mut f: impl FnMut(IpAddr)) -> Result<(), DnsError> {
    let rdata = msg.get(rr.rdata..rr.rdata_end).ok_or(DnsError::Truncated)?;
    let priority = be16(rdata, 0).map_err(|_| DnsError::BadRdata)?;
    // TargetName must not be compressed (RFC 9460 §2.2); reading it against the RDATA alone makes a
    // pointer fail, which is what a malformed record deserves.
    let mut pos = read_name(rdata, 2, None).map_err(|_| DnsError::BadRdata)?;
    while pos < rdata.len() {
        let key = be16(rdata, pos).map_err(|_| DnsError::BadRdata)?;
        let len = usize::from(be16(rdata, pos + 2).map_err(|_| DnsError::BadRdata)?);
        let value = rdata
            .get(pos + 4..pos + 4 + len)
            .ok_or(DnsError::BadRdata)?;
        let width = match key {
            SVC_KEY_IPV4HINT => 4,
            SVC_KEY_IPV6HINT => 16,
            _ => 0,
        };
        if width != 0 {
            if value.is_empty() || value.len() % width != 0 {
                return Err(DnsError::BadRdata);
            }
            if priority != 0 {
                for addr in value.chunks_exact(width) {
                    f(ip_from(addr));
                }
            }
        }
        pos += 4 + len;
    }
    Ok(())
}

/// An address from 4 or 16 octets (callers check the width).
fn ip_from(octets: &[u8]) -> IpAddr {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        IpAddr::V4(Ipv4Addr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(octets) {
        IpAddr::V6(Ipv6Addr::from(v6))
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// RFC 2181 §8: a TTL with the top bit set is treated as zero.
fn sane_ttl(ttl: u32) -> u32 {
    if ttl > i32::MAX as u32 {
        0
    } else {
        ttl
    }
}

/// The question name and the names its CNAME chain reached.
struct Chain {
    names: [NameBuf; MAX_CHAIN],
    len: usize,
}

impl Chain {
    fn contains(&self, name: &[u8]) -> bool {
        self.names[..self.len].iter().any(|n| n.as_bytes() == name)
    }
}

// RFC 1035 §4.1.1 header, 12 octets:
//   ID u16 | QR:1 OPCODE:4 AA:1 TC:1 RD:1 | RA:1 Z:1 AD:1 CD:1 RCODE:4
//   | QDCOUNT u16 | ANCOUNT u16 | NSCOUNT u16 | ARCOUNT u16
// RFC 1035 §4.1.2 question: QNAME (name) | QTYPE u16 | QCLASS u16
// then ANCOUNT answer RRs (§4.1.3); the authority and additional sections are not read.
/// Walk a DNS response message (a UDP payload, or one TCP-framed message with its 2-octet length
/// already removed): the first question, then every answer-section RR. Calls
/// `on_addr(question_name, ip, ttl)` for every address the answer section gives for the question's
/// CNAME chain: A (RFC 1035 §3.4.1), AAAA (RFC 3596 §2.2) and the ipv4hint/ipv6hint of ServiceMode
/// SVCB/HTTPS records (RFC 9460 §7.3), class IN only. `question_name` is the name the client asked
/// for, lower-cased, without trailing dot, in a stack buffer (at most 253 octets); the TTL is the
/// address record's, with RFC 2181 §8 applied. Compression pointers (RFC 1035 §4.1.4) must point
/// strictly backwards and inside the message. The whole answer section is validated before the first
/// callback, so on `Err` the callback was never called; nothing is allocated.
pub fn parse_response(
    msg: &[u8],
    mut on_addr: impl FnMut(&[u8], IpAddr, u32),
) -> Result<ResponseInfo, DnsError> {
    if msg.len() < HEADER_LEN {
        return Err(DnsError::Truncated);
    }
    let id = be16(msg, 0)?;
    let (flags_hi, flags_lo) = (msg[2], msg[3]);
    if flags_hi & 0x80 == 0 {
        return Err(DnsError::NotResponse);
    }
    if (flags_hi >> 3) & 0x0F != 0 {
        return Err(DnsError::UnsupportedOpcode);
    }
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    if qdcount == 0 {
        return Err(DnsError::NoQuestion);
    }

    let mut chain = Chain {
        names: [const { NameBuf::new() }; MAX_CHAIN],
        len: 1,
    };
    let mut pos = read_name(msg, HEADER_LEN, Some(&mut chain.names[0]))?;
    let qtype = be16(msg, pos)?;
    be16(msg, pos + 2)?;
    pos += 4;
    for _ in 1..qdcount {
        pos = read_name(msg, pos, None)?;
        be32(msg, pos)?;
        pos += 4;
    }
    let answers_start = pos;

    // First pass: validate every RR and follow CNAMEs in order (servers list the chain in order).
    // Later passes only run if a link was added, to catch a chain listed out of order.
    let mut owner = NameBuf::new();
    let mut target = NameBuf::new();
    let mut first_pass = true;
    loop {
        let before = chain.len;
        walk_rrs(msg, answers_start, ancount, |rr| {
            match rr.rtype {
                TYPE_CNAME => {
                    read_cname(msg, rr, &mut target)?;
                    if rr.class == CLASS_IN && chain.len < MAX_CHAIN {
                        read_name(msg, rr.owner, Some(&mut owner))?;
                        if chain.contains(owner.as_bytes()) && !chain.contains(target.as_bytes()) {
                            let slot = &mut chain.names[chain.len];
                            slot.bytes = target.bytes;
                            slot.len = target.len;
                            chain.len += 1;
                        }
                    }
                }
                TYPE_A | TYPE_AAAA if first_pass => {
                    let want = if rr.rtype == TYPE_A { 4 } else { 16 };
                    if rr.rdata_end - rr.rdata != want {
                        return Err(DnsError::BadRdata);
                    }
                }
                TYPE_SVCB | TYPE_HTTPS if first_pass => walk_svcb(msg, rr, |_| {})?,
                _ => {}
            }
            Ok(())
        })?;
        first_pass = false;
        if chain.len == before || chain.len == MAX_CHAIN {
            break;
        }
    }

    let mut addresses = 0u32;
    let qname = &chain.names[0];
    walk_rrs(msg, answers_start, ancount, |rr| {
        if rr.class != CLASS_IN || !matches!(rr.rtype, TYPE_A | TYPE_AAAA | TYPE_SVCB | TYPE_HTTPS)
        {
            return Ok(());
        }
        read_name(msg, rr.owner, Some(&mut owner))?;
        if !chain.contains(owner.as_bytes()) {
            return Ok(());
        }
        let ttl = sane_ttl(rr.ttl);
        if rr.rtype == TYPE_SVCB || rr.rtype == TYPE_HTTPS {
            walk_svcb(msg, rr, |ip| {
                addresses += 1;
                on_addr(qname.as_bytes(), ip, ttl);
            })
        } else {
            addresses += 1;
            on_addr(qname.as_bytes(), ip_from(&msg[rr.rdata..rr.rdata_end]), ttl);
            Ok(())
        }
    })?;

    Ok(ResponseInfo {
        id,
        rcode: flags_lo & 0x0F,
        answers: ancount,
        qtype,
        truncated: flags_hi & 0x02 != 0,
        addresses,
    })
}

// RFC 1035 §4.2.2 — over TCP, a message is "prefixed with a two byte length field which gives
// the message length, excluding the two byte length field".
/// The DNS message at the start of a DNS-over-TCP segment: the bytes after its 2-byte length
/// prefix, if the whole message is in `segment` (a message that starts in one segment and ends in
/// a later one is not read; bytes after the message are ignored). Borrows, never allocates.
pub fn tcp_message(segment: &[u8]) -> Option<&[u8]> {
    match segment {
        [hi, lo, rest @ ..] if rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])) => {
            Some(&rest[..usize::from(u16::from_be_bytes([*hi, *lo]))])
        }
        _ => None,
    }
}

/// Is this a query (QR=0) or a response (QR=1)? For the client/server orientation of a flow; `None`
/// if the bytes are not plausible DNS: shorter than a header, an unassigned OPCODE (RFC 6895 §2.2),
/// Z set, section counts that cannot fit the length, a query without exactly one question or with
/// answers (NOTIFY excepted), or a first question that does not parse.
pub fn message_kind(msg: &[u8]) -> Option<DnsKind> {
    kind(msg, false)
}

/// [`message_kind`] for multicast DNS (port 5353): a query may ask several questions and carry
/// the answers it already knows (RFC 6762 §5.3 and §7.1, Known-Answer Suppression), as every mDNS
/// responder's queries do.
pub fn mdns_message_kind(msg: &[u8]) -> Option<DnsKind> {
    kind(msg, true)
}

fn kind(msg: &[u8], mdns: bool) -> Option<DnsKind> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let (flags_hi, flags_lo) = (msg[2], msg[3]);
    let opcode = (flags_hi >> 3) & 0x0F;
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5 | 6) || flags_lo & 0x40 != 0 {
        return None;
    }
    let count = |at| usize::from(u16::from_be_bytes([msg[at], msg[at + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    // Smallest question: root name + QTYPE + QCLASS; smallest RR: root name + 10 octets.
    if qd * 5 + (an + ns + ar) * 11 > msg.len() - HEADER_LEN {
        return None;
    }
    let kind = if flags_hi & 0x80 == 0 {
        let questions_ok = if mdns { qd >= 1 } else { qd == 1 };
        if !questions_ok || (an != 0 && opcode != 4 && !mdns) || flags_lo & 0x0F != 0 {
            return None;
        }
        DnsKind::Query
    } else {
        if qd > 1 {
            return None;
        }
        DnsKind::Response
    };
    if qd >= 1 {
        let end = read_name(msg, HEADER_LEN, None).ok()?;
        be32(msg, end).ok()?;
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Real responses produced on loopback: a throwaway Python script ran a `dnslib` 0.9.26 DNSServer on
    // 127.0.0.1:53535 with canned answers, sent it dnslib queries (id 0x1234) over UDP and printed the
    // received datagrams as hex. dnslib compresses names (pointers 0xc00c, 0xc02d, 0xc04a below).

    /// www.Example.COM A: CNAME cdn.example.net (300) -> CNAME edge.cdn-provider.example (120) ->
    /// A 93.184.216.34, A 93.184.216.35 (60); plus unrelated.example.org A 10.9.9.9 (not in the chain).
    const CNAME_CHAIN: &str = "12348580000100050000000003777777074578616d706c6503434f4d0000010001c00c000500010000012c00110363646e076578616d706c65036e657400c02d0005000100000078001b04656467650c63646e2d70726f7669646572076578616d706c6500c04a000100010000003c00045db8d822c04a000100010000003c00045db8d82309756e72656c61746564076578616d706c65036f726700000100010000003c00040a090909";
    /// v6.example.com AAAA: 2001:db8::1, 2001:db8::2 (TTL 3600).
    const AAAA: &str = "123485800001000200000000027636076578616d706c6503636f6d00001c0001c00c001c000100000e10001020010db8000000000000000000000001c00c001c000100000e10001020010db8000000000000000000000002";
    /// svc.example.com HTTPS 1 . alpn=h3,h2 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::10 (300).
    const HTTPS: &str = "12348580000100010000000003737663076578616d706c6503636f6d0000410001c00c004100010000012c002d0001000001000602683302683200040008c0000201c00002020006001020010db8000000000000000000000010";
    /// nope.example.com A: NXDOMAIN, no answers.
    const NXDOMAIN: &str = "123485830001000000000000046e6f7065076578616d706c6503636f6d0000010001";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    type Seen = Vec<(String, IpAddr, u32)>;

    fn collect(msg: &[u8]) -> (Result<ResponseInfo, DnsError>, Seen) {
        let mut out = Vec::new();
        let r = parse_response(msg, |name, ip, ttl| {
            out.push((String::from_utf8(name.to_vec()).unwrap(), ip, ttl))
        });
        (r, out)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Minimal message builder for cases no server would send.
    struct Msg(Vec<u8>);

    impl Msg {
        fn response(qd: u16, an: u16) -> Self {
            let mut v = vec![0xab, 0xcd, 0x81, 0x80];
            for c in [qd, an, 0, 0] {
                v.extend_from_slice(&c.to_be_bytes());
            }
            Msg(v)
        }
        fn name(mut self, dotted: &str) -> Self {
            for label in dotted.split('.').filter(|l| !l.is_empty()) {
                self.0.push(label.len() as u8);
                self.0.extend_from_slice(label.as_bytes());
            }
            self.0.push(0);
            self
        }
        fn raw(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        fn u16(self, v: u16) -> Self {
            self.raw(&v.to_be_bytes())
        }
        fn question(self, name: &str, qtype: u16) -> Self {
            self.name(name).u16(qtype).u16(1)
        }
        /// RR header after the owner name: type, class IN, ttl, rdata.
        fn rr(self, rtype: u16, ttl: u32, rdata: &[u8]) -> Self {
            self.u16(rtype)
                .u16(1)
                .raw(&ttl.to_be_bytes())
                .u16(rdata.len() as u16)
                .raw(rdata)
        }
    }

    #[test]
    fn real_cname_chain_names_addresses_with_the_question() {
        let (r, out) = collect(&unhex(CNAME_CHAIN));
        let info = r.unwrap();
        assert_eq!(
            info,
            ResponseInfo {
                id: 0x1234,
                rcode: 0,
                answers: 5,
                qtype: 1,
                truncated: false,
                addresses: 2
            }
        );
        // Question was www.Example.COM: lower-cased, no trailing dot; the unrelated A is not reported.
        assert_eq!(
            out,
            vec![
                ("www.example.com".into(), ip("93.184.216.34"), 60),
                ("www.example.com".into(), ip("93.184.216.35"), 60),
            ]
        );
    }

    #[test]
    fn real_aaaa() {
        let (r, out) = collect(&unhex(AAAA));
        assert_eq!(r.unwrap().qtype, 28);
        assert_eq!(
            out,
            vec![
                ("v6.example.com".into(), ip("2001:db8::1"), 3600),
                ("v6.example.com".into(), ip("2001:db8::2"), 3600),
            ]
        );
    }

    #[test]
    fn real_https_hints() {
        let (r, out) = collect(&unhex(HTTPS));
        let info = r.unwrap();
        assert_eq!((info.qtype, info.addresses), (65, 3));
        assert_eq!(
            out,
            vec![
                ("svc.example.com".into(), ip("192.0.2.1"), 300),
                ("svc.example.com".into(), ip("192.0.2.2"), 300),
                ("svc.example.com".into(), ip("2001:db8::10"), 300),
            ]
        );
    }

    #[test]
    fn real_nxdomain() {
        let (r, out) = collect(&unhex(NXDOMAIN));
        let info = r.unwrap();
        assert_eq!((info.rcode, info.answers, info.addresses), (3, 0, 0));
        assert!(out.is_empty());
    }

    #[test]
    fn every_prefix_of_a_real_response_is_an_error_without_callback() {
        for hex in [CNAME_CHAIN, AAAA, HTTPS] {
            let msg = unhex(hex);
            for k in 0..msg.len() {
                let (r, out) = collect(&msg[..k]);
                assert!(r.is_err(), "prefix {k}");
                assert!(out.is_empty(), "prefix {k}");
            }
        }
        // The question ends at 33; an RR cut inside its RDATA is Truncated.
        let msg = unhex(AAAA);
        assert_eq!(collect(&msg[..msg.len() - 3]).0, Err(DnsError::Truncated));
    }

    #[test]
    fn chain_listed_out_of_order_and_svcb_alias_mode() {
        let msg = Msg::response(1, 4)
            .question("a.test", 1)
            .name("b.test")
            .rr(TYPE_A, 30, &[1, 2, 3, 4])
            .name("c.test")
            .rr(TYPE_HTTPS, 30, &[0, 0, 0, 0, 4, 0, 4, 9, 9, 9, 9]) // AliasMode: hints ignored
            .name("A.TEST")
            .rr(TYPE_CNAME, 30, &[1, b'b', 4, b't', b'e', b's', b't', 0])
            .name("b.test")
            .rr(TYPE_CNAME, 30, &[1, b'c', 0xc0, 14]); // c + pointer to "test" of the question
        let (r, out) = collect(&msg.0);
        assert_eq!(r.unwrap().addresses, 1);
        assert_eq!(out, vec![("a.test".into(), ip("1.2.3.4"), 30)]);
    }

    #[test]
    fn ttl_with_top_bit_is_zero() {
        let msg = Msg::response(1, 1)
            .question("t.test", 1)
            .raw(&[0xc0, 12])
            .rr(TYPE_A, 0x8000_0000, &[5, 6, 7, 8]);
        assert_eq!(collect(&msg.0).1, vec![("t.test".into(), ip("5.6.7.8"), 0)]);
    }

    #[test]
    fn compression_pointer_loops_are_rejected() {
        // Question name is a pointer to itself.
        let msg = Msg::response(1, 0).raw(&[0xc0, 12]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::PointerLoop));
        // Label "a" then a pointer back to that label: points backwards, still a loop.
        let msg = Msg::response(1, 0).raw(&[1, b'a', 0xc0, 12]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::PointerLoop));
        // Two names pointing at each other (answer owner -> owner+2 -> owner).
        let msg = Msg::response(1, 1)
            .question("x.test", 1)
            .raw(&[0xc0, 26, 0xc0, 24])
            .rr(TYPE_A, 1, &[1, 1, 1, 1]);
        assert_eq!(collect(&msg.0).0, Err(DnsError::PointerLoop));
        // Forward pointer.
        let msg = Msg::response(1, 0).raw(&[0xc0, 14, 0]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::PointerLoop));
    }

    #[test]
    fn pointer_past_end_and_bad_labels() {
        let msg = Msg::response(1, 0).raw(&[0xc0, 200]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::BadPointer));
        let msg = Msg::response(1, 0).raw(&[0xff, 0xff]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::BadPointer));
        // A label claiming more octets than remain.
        let msg = Msg::response(1, 0).raw(&[0x3f, b'a']);
        assert_eq!(collect(&msg.0).0, Err(DnsError::Truncated));
        let msg = Msg::response(1, 0).raw(&[0x41, 0]).u16(1).u16(1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::BadName));
        // 5 labels of 63 octets: 320 octets on the wire.
        let long = vec!["a".repeat(63); 5].join(".");
        let msg = Msg::response(1, 0).question(&long, 1);
        assert_eq!(collect(&msg.0).0, Err(DnsError::BadName));
        // Longest legal name: 253 characters of text.
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        let msg =
            Msg::response(1, 1)
                .question(&max, 1)
                .raw(&[0xc0, 12])
                .rr(TYPE_A, 1, &[1, 1, 1, 1]);
        let (r, out) = collect(&msg.0);
        assert!(r.is_ok());
        assert_eq!(out[0].0.len(), 253);
        assert_eq!(out[0].0, max);
    }

    #[test]
    fn header_level_errors() {
        assert_eq!(collect(&[0u8; 11]).0, Err(DnsError::Truncated));
        let msg = Msg::response(0, 0);
        assert_eq!(collect(&msg.0).0, Err(DnsError::NoQuestion));
        let mut query = unhex(AAAA);
        query[2] &= 0x7f;
        assert_eq!(collect(&query).0, Err(DnsError::NotResponse));
        let mut update = unhex(AAAA);
        update[2] |= 5 << 3;
        assert_eq!(collect(&update).0, Err(DnsError::UnsupportedOpcode));
        // 65535 answers claimed, two present: error, and no address leaks out.
        let mut many = unhex(AAAA);
        many[6] = 0xff;
        many[7] = 0xff;
        let (r, out) = collect(&many);
        assert_eq!(r, Err(DnsError::Truncated));
        assert!(out.is_empty());
    }

    #[test]
    fn bad_rdata() {
        let a5 = Msg::response(1, 1)
            .question("t.test", 1)
            .raw(&[0xc0, 12])
            .rr(TYPE_A, 1, &[1, 2, 3, 4, 5]);
        assert_eq!(collect(&a5.0).0, Err(DnsError::BadRdata));
        let hint5 = Msg::response(1, 1)
            .question("t.test", 65)
            .raw(&[0xc0, 12])
            .rr(TYPE_HTTPS, 1, &[0, 1, 0, 0, 4, 0, 5, 1, 2, 3, 4, 5]);
        assert_eq!(collect(&hint5.0).0, Err(DnsError::BadRdata));
        let param_overrun = Msg::response(1, 1)
            .question("t.test", 64)
            .raw(&[0xc0, 12])
            .rr(TYPE_SVCB, 1, &[0, 1, 0, 0, 1, 0, 9, b'h']);
        assert_eq!(collect(&param_overrun.0).0, Err(DnsError::BadRdata));
        // A CNAME whose target runs past RDLENGTH.
        let cname = Msg::response(1, 1)
            .question("t.test", 1)
            .raw(&[0xc0, 12])
            .rr(TYPE_CNAME, 1, &[1, b'x'])
            .raw(&[0]);
        assert_eq!(collect(&cname.0).0, Err(DnsError::BadRdata));
    }

    #[test]
    fn tcp_message_reads_one_length_prefixed_message() {
        let msg = unhex(NXDOMAIN);
        let mut seg = (msg.len() as u16).to_be_bytes().to_vec();
        seg.extend_from_slice(&msg);
        assert_eq!(tcp_message(&seg), Some(&msg[..]));
        // Bytes after the message (the next pipelined message) are not part of it.
        seg.extend_from_slice(&[0, 12, 1, 2]);
        assert_eq!(tcp_message(&seg), Some(&msg[..]));
        // A message that ends in a later segment, or a segment too short for the prefix.
        assert_eq!(tcp_message(&seg[..msg.len() + 1]), None);
        assert_eq!(tcp_message(&[0x01]), None);
        assert_eq!(tcp_message(&[]), None);
        // A zero length gives an empty message, which the parsers reject.
        assert_eq!(tcp_message(&[0, 0, 7]), Some(&[][..]));
        assert_eq!(tcp_message(&[0xff, 0xff, 0, 0]), None);
    }

    #[test]
    fn message_kind_orients() {
        assert_eq!(message_kind(&unhex(CNAME_CHAIN)), Some(DnsKind::Response));
        assert_eq!(message_kind(&unhex(NXDOMAIN)), Some(DnsKind::Response));
        let mut query = unhex(NXDOMAIN);
        query[2] = 0x01; // QR=0, RD
        query[3] = 0x00;
        assert_eq!(message_kind(&query), Some(DnsKind::Query));
        query[7] = 1; // a query claiming an answer it does not hold
        assert_eq!(message_kind(&query), None);
        // mDNS: several questions and known answers are what its queries carry (RFC 6762).
        query[5] = 2;
        assert_eq!(message_kind(&query), None);
        assert_eq!(mdns_message_kind(&query), Some(DnsKind::Query));
        assert_eq!(message_kind(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(
            message_kind(&[0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 0]),
            None
        );
        assert_eq!(message_kind(&[0; 5]), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = parse_response(&bytes, |_, _, _| {});
            let _ = message_kind(&bytes);
        }

        #[test]
        fn mutated_real_responses_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
        ) {
            let mut msg = unhex([CNAME_CHAIN, AAAA, HTTPS][which]);
            for (at, b) in edits {
                let i = usize::from(at) % msg.len();
                msg[i] = b;
            }
            let mut calls = 0u32;
            if let Ok(info) = parse_response(&msg, |name, _, _| {
                assert!(name.len() <= 253);
                calls += 1;
            }) {
                prop_assert_eq!(info.addresses, calls);
            }
            let _ = message_kind(&msg);
        }
    }
}
