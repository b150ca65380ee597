//! Inspection: reads the first payload bytes of an unnamed flow to find the name of its server.
//!
//! Inspection runs only while a flow has no in-band name and is within its budget (bytes); its state is boxed in the flow entry and freed as soon as the flow is named
//! or the budget is spent. DNS responses are read on every packet to or from port 53 and fill the
//! engine's IP → name cache ([`dns::DnsCache`]); DNS is not an inspector.
//!
//! # Adding an inspector
//!
//! An inspector is a parser module here ([`tls`], [`quic`], [`http`]) plus a few lines in
//! `Inspector`, the per-flow state the engine drives (the engine itself needs no change):
//!
//! - **What it implements.** A cheap test on a flow's first client bytes that never allocates
//!   ([`tls::looks_like_client_hello`], [`quic::QuicInitial::looks_like_initial`],
//!   [`http::looks_like_request`]), which `Inspector::step` / `start_tcp` use to pick the
//!   protocol (a variant of the private `Protocol` enum); then a parser that borrows the bytes
//!   (zero-copy), never panics on any input, and, if the message can span packets, a state type
//!   with a bounded buffer that takes segments or datagrams one at a time
//!   ([`tls::HelloReassembler::push`], [`quic::QuicInitial::push_datagram`]). TCP streams whose
//!   SYN was seen are gathered in any order (first received byte wins on overlaps, see
//!   `stream`) until their start, after an optional PROXY protocol v1/v2 header, tells TLS from
//!   HTTP; an HTTP request is re-parsed from that buffer as its prefix grows.
//! - **How it reports progress.** With the shared [`Progress`]: `NeedMore`, `Complete` (the
//!   message is read from the inspector, e.g. `hello()`; [`http::parse_request`] carries its
//!   host as `Ok`), `NotThisProtocol`, or `GaveUp` with a [`GiveUp`] reason. `Inspector` maps it
//!   to the engine's `Step`: `NeedMore` → `Continue`, `Complete` → `Named` (a ClientHello is
//!   copied into a `HelloInfo`; names go through `lower_name`), anything else → `Done`, which
//!   ends inspection of the flow. A ClientHello without SNI is `Named` with no name.
//! - **How it accounts its memory.** It reports the heap bytes it holds (capacities, not
//!   lengths) with a `memory()` method, and `Inspector::memory` adds that in. After every
//!   payload `Inspector::payload` moves the engine's gauge (the `Arc<AtomicUsize>` given to
//!   `Inspector::new`) by the change, and `Drop` gives the inspector's share back however the
//!   flow ends. The engine starts no new inspector while the gauge is at
//!   `Config::max_inspect_bytes`, and ends one whose payload pushed the gauge past it (both
//!   counted in `Stats::inspect_skipped`).
//! - **Budgets.** In bytes, never in packets: tiny segments cost CPU, not the name. While no
//!   protocol is recognised a flow gets 20 KiB of client bytes (the private `MAX_CLIENT_BYTES`),
//!   and any inspector at most 1 MiB of payload looked at (`MAX_WORK_BYTES`, duplicates
//!   included); each parser has its own hard bound by stream offset and gives up (or, for a
//!   ClientHello, reads the kept prefix) rather than grow past it ([`tls::HelloReassembler::MAX_BYTES`],
//!   [`quic::QuicInitial::MAX_MEMORY`] with at most [`quic::QuicInitial::MAX_PACKETS`] Initials,
//!   [`http::MAX_HEADER`]).
//! - **Where it is fuzzed.** `fuzz/fuzz_targets/`: `tls_reassembly` (the reassembler and the
//!   ClientHello parser), `quic_initial` (the Initial decoder; under `cfg(fuzzing)` the AEAD is
//!   skipped), `dns_http` (the DNS parser and cache, the HTTP parser), and `packet` /
//!   `flow_diff` through the whole engine. A new parser gets its own target (a `[[bin]]` in
//!   `fuzz/Cargo.toml`) and "random bytes never panic" property tests beside its code.

pub mod dns;
pub mod http;
pub mod quic;
pub(crate) mod stream;
pub mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::packet::Transport;
use crate::record::NameSource;
use stream::StreamBuf;

/// What a ClientHello said, copied out of the borrowed parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelloInfo {
    pub sni: Option<Name>,
    /// ALPN as on the wire: a length byte before each protocol.
    pub alpn: Box<[u8]>,
    pub ech: bool,
    /// Absent for a hello too long to keep whole (its fingerprint would be of a prefix).
    pub ja4: Option<[u8; 36]>,
}

impl HelloInfo {
    /// `truncated`: `handshake` is only the first bytes of a longer hello
    /// ([`tls::HelloReassembler::truncated`]); what lies in it is read, JA4 is left out.
    fn from_handshake(handshake: &[u8], transport: u8, truncated: bool) -> Option<HelloInfo> {
        let hello = if truncated {
            tls::parse_client_hello_prefix(handshake).ok()?
        } else {
            tls::parse_client_hello(handshake).ok()?
        };
        let ja4 = (!truncated).then(|| tls::ja4(&hello, transport));
        Some(HelloInfo {
            sni: hello.sni.map(lower_name),
            alpn: hello.alpn.raw().into(),
            ech: hello.ech,
            ja4,
        })
    }
}

/// Longest name kept, in bytes: a DNS name's longest text form (RFC 1035 §2.3.4, 255 octets on
/// the wire).
pub const MAX_NAME: usize = 253;

/// A server name as records carry it ([`lower_name`]), and what making it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name: printable, lower case, at most [`MAX_NAME`] bytes.
    pub text: String,
    /// Some bytes were escaped as `\xHH`.
    pub escaped: bool,
    /// The name was longer than [`MAX_NAME`] bytes and was cut to its rightmost labels.
    pub cut: bool,
}

/// Whether a character of a name is shown escaped: NUL and other control characters (C0, DEL,
/// C1), space, the backslash itself (so an escape is never ambiguous), and the bidirectional
/// formatting characters that would make text display in another order than it is.
fn needs_escape(c: char) -> bool {
    c == ' '
        || c == '\\'
        || c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

/// The one place a server name is made (TLS and QUIC SNI, HTTP Host, DNS question names): lower
/// case, no trailing dot, and never able to lie. A C string stops at NUL and a terminal obeys
/// control characters, so a name like `www.google.com\0.evil.net` must not show as
/// `www.google.com` while the policy matched `evil.net`: every byte that is NUL, a control
/// character, a space, a backslash, a bidirectional formatting character, or not valid UTF-8 is
/// written `\xHH` (lower-case hex; `escaped`). A name still longer than [`MAX_NAME`] bytes (no DNS
/// name is) keeps its rightmost labels that fit, starting at a label boundary, so its registrable
/// domain, which the policy matches, survives (`cut`).
pub fn lower_name(raw: &[u8]) -> Name {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    let mut text = String::with_capacity(raw.len());
    let mut escaped = false;
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if needs_escape(c) {
                escaped = true;
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    push_escaped(&mut text, b);
                }
            } else {
                text.push(c.to_ascii_lowercase());
            }
        }
        for &b in chunk.invalid() {
            escaped = true;
            push_escaped(&mut text, b);
        }
    }
    let cut = text.len() > MAX_NAME;
    if cut {
        text = text.split_off(cut_point(&text));
    }
    Name { text, escaped, cut }
}

/// Where the rightmost at most [`MAX_NAME`] bytes of an escaped name start: after a dot when one
/// is in reach, else at the first character boundary that is not inside a `\xHH` escape (every
/// backslash in an escaped name starts one).
fn cut_point(text: &str) -> usize {
    let bytes = text.as_bytes();
    let start = bytes.len() - MAX_NAME;
    if let Some(dot) = bytes[start - 1..bytes.len() - 1]
        .iter()
        .position(|&b| b == b'.')
    {
        return start + dot;
    }
    let mut p = start;
    loop {
        let in_escape = (1..=3).find(|&k| bytes[p - k] == b'\\');
        match in_escape {
            Some(k) => p = p - k + 4,
            None if !text.is_char_boundary(p) => p += 1,
            None => return p,
        }
    }
}

/// How far an inspector's parser has got with a flow's first bytes: the one outcome type of the
/// TLS reassembler ([`tls::HelloReassembler::push`]), the QUIC Initial decoder
/// ([`quic::QuicInitial::push_datagram`]) and the HTTP request parser ([`http::parse_request`],
/// whose host comes with [`Progress::Complete`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not complete yet: feed more client bytes (segments, datagrams, or a longer prefix).
    NeedMore,
    /// The client's message is complete: read it from the inspector (the ClientHello with
    /// `hello()`, the HTTP host from [`http::parse_request`]'s result).
    Complete,
    /// The bytes are not this inspector's protocol (not a TLS ClientHello, not a QUIC long
    /// header, not an HTTP/1.x request line).
    NotThisProtocol,
    /// The protocol is recognised but inspection stops; buffers are freed and later input is
    /// ignored.
    GaveUp(GiveUp),
}

/// Why an inspector gave up on a flow ([`Progress::GaveUp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Over a bound (bytes buffered, packets read) or malformed beyond recovery (a TLS record
    /// layer that breaks RFC 8446 §5.1, a QUIC CRYPTO stream that is not a ClientHello).
    Abandoned,
    /// A QUIC version this crate cannot decrypt, or a Version Negotiation packet.
    Unsupported,
    /// An HTTP request without a usable host: the header block ended without a (non-empty)
    /// Host, or no end of headers came within [`http::MAX_HEADER`] bytes.
    NoHost,
}

/// What one payload did for naming.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing yet; keep inspecting.
    Continue,
    /// The sender is the client: it sent a ClientHello, a QUIC Initial or an HTTP request.
    ClientSpoke,
    /// The flow's own bytes named it: the source, the name (`None` for a ClientHello without
    /// SNI, whose details still count), and the hello's details for TLS and QUIC.
    Named(NameSource, Option<Name>, Option<HelloInfo>),
    /// After `Named` (a TLS hello, while [`Inspector::watching`]): a client segment carried hello
    /// bytes again with different values; [`Inspector::alternative_name`] reads that version.
    Reread,
    /// Budget spent or nothing recognisable: stop inspecting this flow.
    Done,
}

/// Client segments a named TLS flow's inspector still looks at for a second version of its hello
/// bytes (until the server's first bytes, which end it sooner).
const WATCH_SEGMENTS: u8 = 8;

/// Client payload bytes looked at per flow while no protocol is recognised (a preamble, a
/// banner exchange) before giving up. Once a protocol is recognised its own byte bound rules:
/// the message's bytes by stream offset ([`tls::HelloReassembler::MAX_BYTES`],
/// [`http::MAX_HEADER`]), however many segments carry them.
const MAX_CLIENT_BYTES: u32 = 20 * 1024;
/// Payload bytes (both ways, duplicates included) an inspector looks at before giving up: a
/// bound on the work one flow can cost, far above any real first message in any segmentation
/// (an 18 KB hello in 1-byte segments, each sent three times, is 54 KB).
const MAX_WORK_BYTES: u32 = 1024 * 1024;

/// Which in-band protocol the client's first bytes turned out to speak.
enum Protocol {
    Unknown,
    /// TCP with the client's first sequence number known: the stream's first bytes, received in
    /// any order, until its start (after a PROXY protocol header) tells TLS from HTTP. An HTTP
    /// request is read from here until it names its host.
    Pending(StreamBuf),
    Tls(tls::HelloReassembler),
    /// An HTTP request whose stream start is not known (no SYN seen): bytes from the request's
    /// first segment on, in any order.
    Http {
        buf: StreamBuf,
        start: u32,
    },
    /// An HTTP request that named the flow, kept while it is watched for a second version of its
    /// bytes ([`Inspector::watching`]).
    HttpNamed(Box<HttpWatch>),
    Quic(quic::QuicInitial),
}

/// A read HTTP request and, once a client segment carried some of its bytes again with other
/// values, the last-received-wins reading of them: a decoy request the server dropped (bad
/// checksum, low TTL) followed by the real one at the same offsets reads both ways, as a TLS
/// hello does.
struct HttpWatch {
    /// The stream as first received, from sequence number `start`.
    buf: StreamBuf,
    start: u32,
    /// Where the request starts in `buf` (after a PROXY protocol header).
    at: usize,
    /// The last-received-wins copy, made at the first conflicting byte.
    alt: Option<StreamBuf>,
}

impl HttpWatch {
    /// Whether this client segment makes a second version of the request that names a host.
    fn recheck(&mut self, seq: u32, payload: &[u8]) -> bool {
        let Some((lo, data)) = window(self.start, seq, payload, http::MAX_HEADER) else {
            return false;
        };
        let changes = match &self.alt {
            Some(alt) => alt.would_change(lo, data),
            None => self.buf.differs(lo, data),
        };
        if !changes {
            return false;
        }
        self.alt
            .get_or_insert_with(|| self.buf.clone())
            .overwrite(lo, data);
        self.alternative().is_some()
    }

    /// The host the second version names, if it reads as a request with one.
    fn alternative(&self) -> Option<Name> {
        let alt = self.alt.as_ref()?;
        match http::parse_request(alt.contiguous().get(self.at..)?) {
            Ok(http::Target::Host(h) | http::Target::Connect(h)) => Some(lower_name(h)),
            _ => None,
        }
    }

    fn memory(&self) -> usize {
        self.buf.memory() + self.alt.as_ref().map_or(0, StreamBuf::memory)
    }
}

impl Protocol {
    /// The hello or request held here named the flow.
    fn named(&self) -> bool {
        match self {
            Protocol::Tls(r) => r.hello().is_some(),
            Protocol::HttpNamed(_) => true,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Unknown => "Unknown",
            Protocol::Pending(_) => "Pending",
            Protocol::Tls(_) => "Tls",
            Protocol::Http { .. } => "Http",
            Protocol::HttpNamed(_) => "HttpNamed",
            Protocol::Quic(_) => "Quic",
        })
    }
}

/// Most stream bytes held while the protocol is not yet known or an HTTP request is read.
const MAX_PENDING: usize = tls::HelloReassembler::MAX_BYTES;

/// What a stream's first bytes are, so far.
enum Start {
    /// Too few bytes to tell.
    NeedMore,
    /// A TLS record starts after `skip` bytes of PROXY protocol header.
    Tls(usize),
    /// Neither TLS nor HTTP at the start (or a bad PROXY header).
    Other,
}

/// PROXY protocol v2 signature (haproxy's proxy-protocol.txt §2.2).
const PROXY_V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest PROXY protocol v1 line, CRLF included (proxy-protocol.txt §2.1).
const PROXY_V1_MAX: usize = 107;

/// Length of a PROXY protocol header (v1 text line or v2 binary block) at the start of `p`:
/// `Ok(0)` when there is none, `Err(true)` when more bytes are needed to tell, `Err(false)` for
/// a malformed one.
fn proxy_header(p: &[u8]) -> Result<usize, bool> {
    let n = p.len().min(PROXY_V2_SIG.len());
    if p[..n] == PROXY_V2_SIG[..n] {
        if n < PROXY_V2_SIG.len() {
            return Err(true);
        }
        let Some(&[ver_cmd, _, hi, lo]) = p.get(12..16) else {
            return Err(true);
        };
        if ver_cmd >> 4 != 2 {
            return Err(false);
        }
        let total = 16 + usize::from(u16::from_be_bytes([hi, lo]));
        return if p.len() >= total {
            Ok(total)
        } else {
            Err(true)
        };
    }
    const V1: &[u8] = b"PROXY ";
    let n = p.len().min(V1.len());
    if p[..n] != V1[..n] {
        return Ok(0);
    }
    let window = &p[..p.len().min(PROXY_V1_MAX)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(at) => Ok(at + 2),
        None if p.len() >= PROXY_V1_MAX => Err(false),
        None => Err(true),
    }
}

/// Per-flow inspection state, boxed in the flow entry only while the flow is being inspected.
#[derive(Debug)]
pub(crate) struct Inspector {
    protocol: Protocol,
    /// The client's first payload sequence number (SYN seq + 1), when the SYN was seen.
    client_isn: Option<u32>,
    client_bytes: u32,
    /// Payload bytes looked at, both ways (the work bound, [`MAX_WORK_BYTES`]).
    work_bytes: u32,
    /// A client payload at `client_isn` was seen (and was neither TLS nor HTTP).
    saw_stream_start: bool,
    /// Client segments still compared with the hello once it is read ([`WATCH_SEGMENTS`]).
    watch_left: u8,
    /// An HTTP CONNECT named the flow ([`Inspector::tunnel_open`]).
    tunnel: bool,
    /// The engine's gauge of all inspectors' buffer bytes, and this inspector's share of it:
    /// kept in step after every payload and given back on drop, however the flow ends.
    gauge: Arc<AtomicUsize>,
    counted: usize,
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.counted, Ordering::Relaxed);
    }
}

impl Inspector {
    pub fn new(client_isn: Option<u32>, gauge: Arc<AtomicUsize>) -> Inspector {
        Inspector {
            gauge,
            counted: 0,
            protocol: Protocol::Unknown,
            client_isn,
            client_bytes: 0,
            work_bytes: 0,
            saw_stream_start: false,
            watch_left: WATCH_SEGMENTS,
            tunnel: false,
        }
    }

    /// The sequence number of the client's next stream byte, for stream input (offsets from 1).
    pub fn stream_seq(&self) -> u32 {
        self.client_bytes.wrapping_add(1)
    }

    /// Bytes of buffers held (for the engine's global inspection-memory bound).
    pub fn memory(&self) -> usize {
        match &self.protocol {
            Protocol::Unknown => 0,
            Protocol::Pending(buf) => buf.memory(),
            Protocol::Tls(r) => r.memory(),
            Protocol::Http { buf, .. } => buf.memory(),
            Protocol::HttpNamed(w) => w.memory(),
            Protocol::Quic(q) => q.memory(),
        }
    }

    /// Look at one payload. `from_client` says whether the sender is the client as far as the
    /// flow knows; `weak_client` whether that knowledge is only a guess that a client message from
    /// the other side may overturn. `seq` is the sequence number of the payload's first byte.
    pub fn payload(
        &mut self,
        transport: Transport,
        from_client: bool,
        weak_client: bool,
        seq: u32,
        payload: &[u8],
    ) -> Step {
        if payload.is_empty() {
            return Step::Continue;
        }
        self.work_bytes = self.work_bytes.saturating_add(payload.len() as u32);
        if from_client {
            self.client_bytes = self.client_bytes.saturating_add(payload.len() as u32);
        }
        let step = self.step(transport, from_client, weak_client, seq, payload);
        self.account();
        step
    }

    /// Move the engine's gauge by the change in this inspector's buffer bytes.
    fn account(&mut self) {
        let now = self.memory();
        if now >= self.counted {
            self.gauge.fetch_add(now - self.counted, Ordering::Relaxed);
        } else {
            self.gauge.fetch_sub(self.counted - now, Ordering::Relaxed);
        }
        self.counted = now;
    }

    fn step(
        &mut self,
        transport: Transport,
        from_client: bool,
        weak_client: bool,
        seq: u32,
        payload: &[u8],
    ) -> Step {
        let step = match (&mut self.protocol, transport) {
            (Protocol::Unknown, Transport::Tcp) if from_client || weak_client => {
                self.start_tcp(seq, payload)
            }
            (Protocol::Unknown, Transport::Udp) if from_client || weak_client => {
                if quic::QuicInitial::looks_like_initial(payload) {
                    let mut q = quic::QuicInitial::new();
                    let progress = q.push_datagram(payload);
                    self.protocol = Protocol::Quic(q);
                    self.quic_progress(progress).or(Step::ClientSpoke)
                } else if quic::QuicInitial::looks_like_zero_rtt(payload) {
                    // 0-RTT ahead of its Initial: QUIC all the same; wait for the Initial.
                    self.protocol = Protocol::Quic(quic::QuicInitial::new());
                    Step::ClientSpoke
                } else {
                    Step::Done
                }
            }
            (Protocol::Pending(_), _) if from_client => self.pending(seq, payload),
            (p @ (Protocol::Tls(_) | Protocol::HttpNamed(_)), _) if from_client && p.named() => {
                // The hello or request is read and named the flow: a later copy of its bytes
                // that differs is a second version of it (a decoy the server drops, or the real
                // one after a decoy), read by the engine for the stricter verdict.
                self.watch_left = self.watch_left.saturating_sub(1);
                let second = match p {
                    Protocol::Tls(r) => r.recheck(seq, payload),
                    Protocol::HttpNamed(w) => w.recheck(seq, payload),
                    _ => false,
                };
                if second {
                    Step::Reread
                } else if self.watch_left == 0 && self.tunnel {
                    // A CONNECT's watch is spent: look into its tunnel.
                    self.await_tunnel();
                    Step::Continue
                } else if self.watch_left == 0 {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
            (Protocol::Tls(r), _) if from_client => {
                let progress = r.push(seq, payload);
                self.tls_progress(progress)
            }
            (Protocol::Http { buf, start }, _) if from_client => {
                if insert_at(buf, *start, seq, payload, http::MAX_HEADER) {
                    match http::parse_request(buf.contiguous()) {
                        // A text line that began like a request ("CAPA", "EHLO x") and went on
                        // as another protocol: this segment or a later one may start a hello
                        // (STARTTLS), so look at it afresh.
                        Err(Progress::NotThisProtocol) => {
                            self.protocol = Protocol::Unknown;
                            self.start_tcp(seq, payload)
                        }
                        request => {
                            let connect = is_connect(&request);
                            let step = http_step(request);
                            if matches!(step, Step::Named(..)) {
                                let (buf, start) = (std::mem::take(buf), *start);
                                self.http_named(connect, buf, start, 0);
                            }
                            step
                        }
                    }
                } else {
                    Step::Continue
                }
            }
            (Protocol::Quic(q), _) if from_client => {
                let progress = q.push_datagram(payload);
                self.quic_progress(progress)
            }
            _ => Step::Continue,
        };
        let unknown = matches!(self.protocol, Protocol::Unknown);
        match step {
            Step::Continue | Step::ClientSpoke
                if self.work_bytes > MAX_WORK_BYTES
                    || (unknown && self.client_bytes > MAX_CLIENT_BYTES) =>
            {
                Step::Done
            }
            other => other,
        }
    }

    fn start_tcp(&mut self, seq: u32, payload: &[u8]) -> Step {
        if let (Some(isn), false) = (self.client_isn, self.saw_stream_start) {
            // The stream start is known: read it in any order until it tells its protocol.
            // A first payload numbered like the SYN itself (some capture tools and builders
            // reuse the SYN's number) is taken as the start rather than cut by one byte.
            if seq == isn.wrapping_sub(1) {
                self.client_isn = Some(seq);
            }
            self.protocol = Protocol::Pending(StreamBuf::default());
            return self.pending(seq, payload);
        }
        if tls::looks_like_client_hello(payload) {
            // The hello starts here, whatever came before it (a SOCKS or CONNECT preamble).
            let mut r = tls::HelloReassembler::new(Some(seq));
            let progress = r.push(seq, payload);
            self.protocol = Protocol::Tls(r);
            return self.tls_progress(progress).or(Step::ClientSpoke);
        }
        if http::looks_like_request(payload) {
            let request = http::parse_request(payload);
            if request == Err(Progress::NotThisProtocol) {
                // Text that began like a request line: keep looking, as for a banner.
                return Step::Continue;
            }
            let connect = is_connect(&request);
            let step = http_step(request);
            let mut buf = StreamBuf::default();
            match step {
                Step::Continue | Step::Named(..) => {
                    insert_at(&mut buf, seq, seq, payload, http::MAX_HEADER);
                }
                _ => {}
            }
            if step == Step::Continue {
                self.protocol = Protocol::Http { buf, start: seq };
            } else if matches!(step, Step::Named(..)) {
                self.http_named(connect, buf, seq, 0);
            }
            return step.or(Step::ClientSpoke);
        }
        // Something else first (a proxy handshake, a banner): keep looking at what follows,
        // within the budget.
        Step::Continue
    }

    /// A client segment while the stream start is being gathered ([`Protocol::Pending`]).
    fn pending(&mut self, seq: u32, payload: &[u8]) -> Step {
        let (Protocol::Pending(buf), Some(isn)) = (&mut self.protocol, self.client_isn) else {
            return Step::Continue;
        };
        if !insert_at(buf, isn, seq, payload, MAX_PENDING) {
            return Step::Continue;
        }
        let p = buf.contiguous();
        let start = match proxy_header(p) {
            Err(true) => Start::NeedMore,
            Err(false) => Start::Other,
            Ok(skip) => match p.get(skip..) {
                None | Some([]) => Start::NeedMore,
                Some(rest) if tls::looks_like_client_hello(rest) => Start::Tls(skip),
                Some(rest) => match http::parse_request(rest) {
                    Err(Progress::NotThisProtocol) => Start::Other,
                    Err(Progress::NeedMore) if http::looks_like_request(rest) => {
                        return Step::ClientSpoke
                    }
                    Err(Progress::NeedMore) => Start::NeedMore,
                    request => {
                        let connect = is_connect(&request);
                        let step = http_step(request);
                        if matches!(step, Step::Named(..)) {
                            let buf = std::mem::take(buf);
                            self.http_named(connect, buf, isn, skip);
                        }
                        return step;
                    }
                },
            },
        };
        match start {
            // Full, and still nothing recognisable.
            Start::NeedMore if p.len() >= MAX_PENDING => Step::Done,
            Start::NeedMore => Step::Continue,
            Start::Tls(skip) => {
                // Hand every byte received so far to the hello reassembler, in offset order
                // (overlaps are already resolved: the first copy received was kept).
                let mut r = tls::HelloReassembler::new(Some(isn.wrapping_add(skip as u32)));
                let mut progress = Progress::NeedMore;
                for (lo, bytes) in buf.runs() {
                    progress = r.push(isn.wrapping_add(lo as u32), bytes);
                }
                self.protocol = Protocol::Tls(r);
                self.tls_progress(progress).or(Step::ClientSpoke)
            }
            Start::Other => {
                // Not TLS or HTTP from the start: look for a hello starting in a later segment,
                // as after a SOCKS handshake.
                self.protocol = Protocol::Unknown;
                self.saw_stream_start = true;
                Step::Continue
            }
        }
    }

    /// An HTTP CONNECT named the flow and what the client sends through the tunnel is looked for:
    /// a name found from now on is the tunnel's (the server behind the proxy reads it), which the
    /// engine takes without making the flow's verdict milder, then calls
    /// [`Inspector::tunnel_named`]. The engine keeps the inspector meanwhile.
    pub fn tunnel_open(&self) -> bool {
        self.tunnel
    }

    /// The tunnel's own hello or request named the flow: nothing more is awaited.
    pub fn tunnel_named(&mut self) {
        self.tunnel = false;
    }

    /// End the watch over a CONNECT request (the proxy answered, or the watch has no room) and
    /// look into the tunnel from here on, holding no buffer. Nothing without an open tunnel.
    pub fn await_tunnel(&mut self) {
        if self.tunnel && self.protocol.named() {
            self.protocol = Protocol::Unknown;
            self.account();
        }
    }

    /// A TLS hello or an HTTP request was read (the flow is named) and its inspector still
    /// compares the client's segments with it: the engine keeps it until the server's first
    /// bytes or [`WATCH_SEGMENTS`] client segments, whichever comes first.
    pub fn watching(&self) -> bool {
        self.protocol.named() && self.watch_left > 0
    }

    /// An HTTP request named the flow: keep its bytes (`buf`, from sequence number `start`, the
    /// request at offset `at`) to compare later client segments with. A CONNECT (`connect`) opens
    /// a tunnel through a proxy: once the watch is over, what the client sends through it (a
    /// ClientHello, a request) is looked for in a later segment that starts it, as after a SOCKS
    /// handshake ([`Inspector::tunnel_open`]).
    fn http_named(&mut self, connect: bool, buf: StreamBuf, start: u32, at: usize) {
        if connect {
            // The CONNECT request is watched like any other until the proxy answers; then
            // (`await_tunnel`) what follows it is looked at afresh.
            self.saw_stream_start = true;
            self.tunnel = true;
        }
        self.protocol = Protocol::HttpNamed(Box::new(HttpWatch {
            buf,
            start,
            at,
            alt: None,
        }));
    }

    /// The other version of the hello or request when its bytes came twice with different
    /// values (the last received copy of each byte, where [`Step::Named`] read the first): its
    /// name source, name and (TLS) details, if it reads as a complete hello or a request with a
    /// host.
    pub fn alternative_name(&self) -> Option<(NameSource, Option<Name>, Option<HelloInfo>)> {
        match &self.protocol {
            Protocol::Tls(r) => {
                let (hello, truncated) = r.alternative()?;
                let mut info = HelloInfo::from_handshake(&hello, b't', truncated)?;
                Some((NameSource::TlsSni, info.sni.take(), Some(info)))
            }
            Protocol::HttpNamed(w) => Some((NameSource::HttpHost, Some(w.alternative()?), None)),
            _ => None,
        }
    }

    fn tls_progress(&mut self, progress: Progress) -> Step {
        match progress {
            Progress::NeedMore => Step::Continue,
            Progress::NotThisProtocol | Progress::GaveUp(_) => Step::Done,
            Progress::Complete => {
                let Protocol::Tls(r) = &self.protocol else {
                    return Step::Done;
                };
                match r
                    .hello()
                    .and_then(|h| HelloInfo::from_handshake(h, b't', r.truncated()))
                {
                    Some(mut info) => Step::Named(NameSource::TlsSni, info.sni.take(), Some(info)),
                    None => Step::Done,
                }
            }
        }
    }

    fn quic_progress(&mut self, progress: Progress) -> Step {
        match progress {
            Progress::NeedMore => Step::Continue,
            Progress::NotThisProtocol | Progress::GaveUp(_) => Step::Done,
            Progress::Complete => {
                let Protocol::Quic(q) = &self.protocol else {
                    return Step::Done;
                };
                match q
                    .hello()
                    .and_then(|h| HelloInfo::from_handshake(h, b'q', false))
                {
                    Some(mut info) => Step::Named(NameSource::QuicSni, info.sni.take(), Some(info)),
                    None => Step::Done,
                }
            }
        }
    }
}

/// Store a segment (`seq`, `payload`) in a stream buffer whose offset 0 is sequence number
/// `start`, keeping offsets `[0, max)`; true when a new byte arrived.
fn insert_at(buf: &mut StreamBuf, start: u32, seq: u32, payload: &[u8], max: usize) -> bool {
    match window(start, seq, payload, max) {
        Some((lo, data)) => buf.insert(lo, data),
        None => false,
    }
}

/// The stream offset (from sequence number `start`) and the bytes of a segment that fall inside
/// `[0, max)`, if any.
fn window(start: u32, seq: u32, payload: &[u8], max: usize) -> Option<(usize, &[u8])> {
    let offset = seq.wrapping_sub(start);
    // Offsets in the upper half of the sequence space are before the start: trim them.
    let (lo, skip) = if offset >= 1 << 31 {
        (0usize, offset.wrapping_neg() as usize)
    } else {
        (offset as usize, 0usize)
    };
    if skip >= payload.len() || lo >= max {
        return None;
    }
    let hi = (lo + (payload.len() - skip)).min(max);
    Some((lo, &payload[skip..skip + (hi - lo)]))
}

impl Step {
    /// `self`, unless it is `Continue`, in which case `other`.
    fn or(self, other: Step) -> Step {
        match self {
            Step::Continue => other,
            s => s,
        }
    }
}

/// Whether the request is a CONNECT naming its tunnel's authority.
fn is_connect(request: &http::HttpRequest<'_>) -> bool {
    matches!(request, Ok(http::Target::Connect(_)))
}

fn http_step(request: http::HttpRequest<'_>) -> Step {
    match request {
        Ok(http::Target::Host(h) | http::Target::Connect(h)) => {
            Step::Named(NameSource::HttpHost, Some(lower_name(h)), None)
        }
        Err(Progress::NeedMore) => Step::Continue,
        Err(Progress::Complete | Progress::NotThisProtocol | Progress::GaveUp(_)) => Step::Done,
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn plain_names_are_lower_cased_and_lose_one_trailing_dot() {
        let n = lower_name(b"Files.Dropbox.COM.");
        assert_eq!(n.text, "files.dropbox.com");
        assert!(!n.escaped && !n.cut);
        // Valid UTF-8 that cannot mislead stays as it is.
        assert_eq!(
            lower_name("B\u{fc}cher.DE".as_bytes()).text,
            "b\u{fc}cher.de"
        );
    }

    #[test]
    fn bytes_that_could_lie_are_escaped() {
        for (raw, shown) in [
            (
                &b"www.google.com\0.evil.net"[..],
                "www.google.com\\x00.evil.net",
            ),
            (b"a b.example", "a\\x20b.example"),
            (b"a\tb\x1f\x7f.example", "a\\x09b\\x1f\\x7f.example"),
            (b"A\\x00.example", "a\\x5cx00.example"),
            (b"caf\xc3.example", "caf\\xc3.example"),
            (b"\xff\xfe.Example", "\\xff\\xfe.example"),
            // C1 control U+009B and RIGHT-TO-LEFT OVERRIDE U+202E: their UTF-8 bytes.
            (
                "a\u{9b}\u{202e}.example".as_bytes(),
                "a\\xc2\\x9b\\xe2\\x80\\xae.example",
            ),
        ] {
            let n = lower_name(raw);
            assert_eq!(n.text, shown, "{raw:?}");
            assert!(n.escaped && !n.cut, "{raw:?}");
            assert!(n.text.bytes().all(|b| b.is_ascii_graphic()), "{raw:?}");
        }
    }

    /// The bytes a shown name stands for.
    fn unescape(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = text.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'\\' {
                let hex = std::str::from_utf8(&tail[1..3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                rest = &tail[3..];
            } else {
                out.push(b);
                rest = tail;
            }
        }
        out
    }

    #[test]
    fn long_names_keep_their_rightmost_labels() {
        let mut raw = Vec::new();
        while raw.len() < 4000 {
            raw.extend_from_slice(b"abcdefghij.");
        }
        raw.extend_from_slice(b"Evil.NET");
        let n = lower_name(&raw);
        assert!(n.cut && !n.escaped);
        assert!(n.text.len() <= MAX_NAME && n.text.len() > MAX_NAME - 11);
        assert!(n.text.ends_with(".evil.net") && n.text.starts_with("abcdefghij."));
        // Exactly 253 bytes is kept whole.
        let fits = format!("{}.example", "a".repeat(MAX_NAME - 8));
        assert_eq!(lower_name(fits.as_bytes()).text, fits);
        assert!(!lower_name(fits.as_bytes()).cut);
        // One label longer than the limit: cut at a character boundary, never inside an escape.
        for filler in [&b"\0"[..], "\u{e9}".as_bytes(), b"a\0", b"ab\0", b"abc\0"] {
            let raw: Vec<u8> = filler.iter().copied().cycle().take(1000).collect();
            let n = lower_name(&raw);
            assert!(n.cut && n.text.len() <= MAX_NAME && n.text.len() > MAX_NAME - 4);
            assert!(raw.ends_with(&unescape(&n.text)), "{n:?}");
        }
    }
}

#[cfg(test)]
mod quic_order_tests {
    use super::*;

    /// A client 0-RTT packet (RFC 9000 §17.2.3) of version 1 with a 32-byte (opaque) payload.
    fn zero_rtt() -> Vec<u8> {
        let mut p = vec![0xc0 | (0b01 << 4)];
        p.extend_from_slice(&1u32.to_be_bytes());
        p.push(8);
        p.extend_from_slice(&[0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]);
        p.push(0);
        p.extend_from_slice(&[0x40, 32]);
        p.extend_from_slice(&[0x5a; 32]);
        p
    }

    #[test]
    fn zero_rtt_ahead_of_the_initial_waits_for_it() {
        let initial: &[u8] = include_bytes!("testdata/rfc9001_a2_client_initial.bin");
        let mut inspector = Inspector::new(None, Arc::new(AtomicUsize::new(0)));
        let step = inspector.payload(Transport::Udp, true, true, 0, &zero_rtt());
        assert_eq!(
            step,
            Step::ClientSpoke,
            "0-RTT first is QUIC, not something else"
        );
        let step = inspector.payload(Transport::Udp, true, false, 0, &zero_rtt());
        assert_eq!(step, Step::Continue);
        match inspector.payload(Transport::Udp, true, false, 0, initial) {
            Step::Named(NameSource::QuicSni, Some(name), Some(_)) => {
                assert_eq!(name.text, "example.com")
            }
            other => panic!("the Initial after 0-RTT names the flow: {other:?}"),
        }
    }

    #[test]
    fn server_text_seen_first_does_not_hide_the_request() {
        // Both directions on different threads: the server's body (a script) can reach the
        // inspector before the client's request, while the client is only guessed (weak). Text
        // that starts with a word and a space is not a request start (ndpi_1kxun.pcap).
        let mut inspector = Inspector::new(None, Arc::new(AtomicUsize::new(0)));
        let body = b"function haveScirpt(){var allScr=document.getElementsByTagName(";
        assert_ne!(
            inspector.payload(Transport::Tcp, false, true, 90_000, body),
            Step::ClientSpoke
        );
        let request = b"GET /x.js HTTP/1.1\r\nHost: google.open-js.com\r\n\r\n";
        match inspector.payload(Transport::Tcp, true, true, 1, request) {
            Step::Named(NameSource::HttpHost, Some(name), None) => {
                assert_eq!(name.text, "google.open-js.com")
            }
            other => panic!("the request names the flow: {other:?}"),
        }
    }

    #[test]
    fn other_udp_is_not_waited_for() {
        let mut inspector = Inspector::new(None, Arc::new(AtomicUsize::new(0)));
        assert_eq!(
            inspector.payload(Transport::Udp, true, true, 0, b"\x00\x01 not quic"),
            Step::Done
        );
    }
}
