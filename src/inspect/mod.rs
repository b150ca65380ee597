//! Inspection: reads the first payload bytes of an unnamed flow to find the name of its server.
//!
//! Inspection runs only while a flow has no in-band name and is within its budget (payload packets
//! and client bytes); its state is boxed in the flow entry and freed as soon as the flow is named
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
//!   ([`tls::HelloReassembler::push`], [`quic::QuicInitial::push_datagram`]; HTTP appends
//!   in-order segments to a buffer of at most [`http::MAX_HEADER`] bytes and re-parses it).
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
//! - **Budgets.** Every flow gets at most 24 payload packets and 20 KiB of client bytes (the
//!   private `MAX_PACKETS` and `MAX_CLIENT_BYTES` below); each parser has its own hard bound and
//!   gives up rather than grow past it ([`tls::HelloReassembler::MAX_BYTES`],
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
pub mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::packet::Transport;
use crate::record::NameSource;

/// What a ClientHello said, copied out of the borrowed parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelloInfo {
    pub sni: Option<String>,
    /// ALPN as on the wire: a length byte before each protocol.
    pub alpn: Box<[u8]>,
    pub ech: bool,
    pub ja4: [u8; 36],
}

impl HelloInfo {
    fn from_handshake(handshake: &[u8], transport: u8) -> Option<HelloInfo> {
        let hello = tls::parse_client_hello(handshake).ok()?;
        let ja4 = tls::ja4(&hello, transport);
        Some(HelloInfo {
            sni: hello.sni.map(lower_name),
            alpn: hello.alpn.raw().into(),
            ech: hello.ech,
            ja4,
        })
    }
}

/// A host name as records carry it: lower case, no trailing dot, invalid UTF-8 replaced.
pub(crate) fn lower_name(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    String::from_utf8_lossy(raw).to_ascii_lowercase()
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
    Named(NameSource, Option<String>, Option<HelloInfo>),
    /// Budget spent or nothing recognisable: stop inspecting this flow.
    Done,
}

/// Payload packets looked at per flow before giving up.
const MAX_PACKETS: u16 = 24;
/// Client payload bytes looked at per flow before giving up (an 11 KB hello exists in the wild).
const MAX_CLIENT_BYTES: u32 = 20 * 1024;

/// Which in-band protocol the client's first bytes turned out to speak.
enum Protocol {
    Unknown,
    Tls(tls::HelloReassembler),
    Http { buf: Vec<u8>, next_seq: u32 },
    Quic(quic::QuicInitial),
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Unknown => "Unknown",
            Protocol::Tls(_) => "Tls",
            Protocol::Http { .. } => "Http",
            Protocol::Quic(_) => "Quic",
        })
    }
}

/// Per-flow inspection state, boxed in the flow entry only while the flow is being inspected.
#[derive(Debug)]
pub(crate) struct Inspector {
    protocol: Protocol,
    /// The client's first payload sequence number (SYN seq + 1), when the SYN was seen.
    client_isn: Option<u32>,
    packets: u16,
    client_bytes: u32,
    /// A client payload at `client_isn` was seen (and was neither TLS nor HTTP).
    saw_stream_start: bool,
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
            packets: 0,
            client_bytes: 0,
            saw_stream_start: false,
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
            Protocol::Tls(r) => r.memory(),
            Protocol::Http { buf, .. } => buf.capacity(),
            Protocol::Quic(q) => q.memory(),
        }
    }

    /// Look at one payload. `from_client` says whether the sender is the client as far as the
    /// flow knows; `weak_client` whether that knowledge is only a guess that a client message from
    /// the other side may overturn.
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
        self.packets += 1;
        if from_client {
            self.client_bytes = self.client_bytes.saturating_add(payload.len() as u32);
        }
        let step = self.step(transport, from_client, weak_client, seq, payload);
        let now = self.memory();
        if now >= self.counted {
            self.gauge.fetch_add(now - self.counted, Ordering::Relaxed);
        } else {
            self.gauge.fetch_sub(self.counted - now, Ordering::Relaxed);
        }
        self.counted = now;
        step
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
                } else {
                    Step::Done
                }
            }
            (Protocol::Tls(r), _) if from_client => {
                let progress = r.push(seq, payload);
                self.tls_progress(progress)
            }
            (Protocol::Http { buf, next_seq }, _) if from_client => {
                if seq == *next_seq && buf.len() < http::MAX_HEADER {
                    let room = http::MAX_HEADER - buf.len();
                    buf.extend_from_slice(&payload[..payload.len().min(room)]);
                    *next_seq = seq.wrapping_add(payload.len() as u32);
                    http_step(http::parse_request(buf))
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
        match step {
            Step::Continue
                if self.packets >= MAX_PACKETS || self.client_bytes > MAX_CLIENT_BYTES =>
            {
                Step::Done
            }
            other => other,
        }
    }

    fn start_tcp(&mut self, seq: u32, payload: &[u8]) -> Step {
        if tls::looks_like_client_hello(payload) {
            // The hello starts here, whatever came before it (a SOCKS or CONNECT preamble).
            let mut r = tls::HelloReassembler::new(Some(seq));
            let progress = r.push(seq, payload);
            self.protocol = Protocol::Tls(r);
            return self.tls_progress(progress).or(Step::ClientSpoke);
        }
        if http::looks_like_request(payload) {
            let step = http_step(http::parse_request(payload));
            if step == Step::Continue {
                let len = payload.len().min(http::MAX_HEADER);
                self.protocol = Protocol::Http {
                    buf: payload[..len].to_vec(),
                    next_seq: seq.wrapping_add(payload.len() as u32),
                };
            }
            return step.or(Step::ClientSpoke);
        }
        match self.client_isn {
            // The stream's first segment is late or lost and this is a later one: let the
            // reassembler wait for the start (an out-of-order ClientHello).
            Some(isn) if seq != isn && !self.saw_stream_start => {
                let mut r = tls::HelloReassembler::new(Some(isn));
                let progress = r.push(seq, payload);
                self.protocol = Protocol::Tls(r);
                self.tls_progress(progress)
            }
            // Something else first (a proxy handshake, a banner): keep looking at what follows,
            // within the budget.
            _ => {
                if self.client_isn == Some(seq) {
                    self.saw_stream_start = true;
                }
                Step::Continue
            }
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
                match r.hello().and_then(|h| HelloInfo::from_handshake(h, b't')) {
                    Some(info) => Step::Named(NameSource::TlsSni, info.sni.clone(), Some(info)),
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
                match q.hello().and_then(|h| HelloInfo::from_handshake(h, b'q')) {
                    Some(info) => Step::Named(NameSource::QuicSni, info.sni.clone(), Some(info)),
                    None => Step::Done,
                }
            }
        }
    }
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

fn http_step(request: http::HttpRequest<'_>) -> Step {
    match request {
        Ok(http::Target::Host(h) | http::Target::Connect(h)) => {
            Step::Named(NameSource::HttpHost, Some(lower_name(h)), None)
        }
        Err(Progress::NeedMore) => Step::Continue,
        Err(Progress::Complete | Progress::NotThisProtocol | Progress::GaveUp(_)) => Step::Done,
    }
}
