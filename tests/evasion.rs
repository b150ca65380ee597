//! Evasion suite: a user on the device who wants to reach an unsanctioned app (Dropbox) shapes
//! their own first flight. Whatever the server's TCP stack accepts as the same hello, cloudsight
//! must read as that hello: each case asserts the name, the catalog app, verdict `Block` from the
//! packet that completes the message on (never before), and the flushed record's exact counts.
//!
//! # What an endpoint sensor can know (the decisions these tests pin)
//!
//! - **Overlaps: the first received byte wins, and a second version is read too.** Linux,
//!   Windows and the BSDs never rewrite bytes they already accepted in order, so the first
//!   received copy is what the server read when every copy reached it
//!   (`conflicting_overlap_first_received_byte_wins`). But the server may never have seen the
//!   first copy: a decoy sent with a TTL too small to reach it, or a bad checksum it drops, is a
//!   first copy only for the sensor. So when hello bytes come twice with different values
//!   (overlapping segments before the hello is complete, or a whole second hello after it, until
//!   the server's first bytes), both versions are read and the stricter verdict holds
//!   (`decoy_hello_before_the_real_one_is_read_both_ways` and the cases after it).
//! - **Checksums are not checked.** A sensor that captures outbound packets above the NIC sees
//!   them before checksum offload fills the checksum in, so a zero or wrong checksum is what
//!   honest traffic looks like: cloudsight cannot use it to tell a decoy from data, and does not.
//!   A decoy with a bad checksum is therefore read like any segment (the first copy wins). A
//!   process that can send such crafted segments needs raw-socket privilege on the device (the
//!   OS stack never sends conflicting retransmissions), the same privilege that could stop the
//!   sensor; that is outside what cloudsight can answer from packets alone.
//! - **Through an HTTP proxy, the tunnel's bytes name the flow.** A CONNECT names its authority
//!   at once, but the proxy hands what follows to that host's server, which reads the hello (or
//!   request) sent through the tunnel: a CONNECT to an allowed front for a blocked app is domain
//!   fronting. That hello, found in a later segment that starts it (as after a SOCKS handshake),
//!   names the flow; the verdict never gets milder than the CONNECT's
//!   (`connect_to_an_allowed_host_then_a_blocked_app_through_the_tunnel`).
//! - **Out-of-window segments are ignored**: bytes more than the hello bound (16 KiB) past the
//!   stream start, or before it, are never read, so a decoy hello sent far outside the window
//!   cannot name the flow.

use cloudsight::capi::*;
use cloudsight::{ActivityRecord, Config, Engine, LinkType, Sanction, Verdict};
use cloudsight_testkit::packet::{Tcp, ACK, PSH_ACK, SYN, SYN_ACK};
use cloudsight_testkit::tls::{chromium_handshake, chromium_hello, client_hello, records};

const CLIENT: [u8; 4] = [10, 0, 0, 5];
const SERVER: [u8; 4] = [162, 125, 1, 18];
const ISN: u32 = 1000;
const SNI: &str = "www.dropbox.com";

/// A connection fed packet by packet, counting what each direction sent.
struct Conn {
    engine: Engine,
    up: Tcp,
    ts: u64,
    bytes: [u64; 2],
    packets: [u64; 2],
}

impl Conn {
    fn new(port: u16) -> Conn {
        let engine = Engine::new(Config::default()).unwrap();
        engine.update_policy(|p| p.set_app("dropbox", Sanction::Unsanctioned));
        Conn {
            engine,
            up: Tcp::new((CLIENT, 50123), (SERVER, port)),
            ts: 1_000_000_000,
            bytes: [0; 2],
            packets: [0; 2],
        }
    }

    fn send(&mut self, up: bool, seq: u32, flags: u8, payload: &[u8]) -> Verdict {
        let frame = self.up.up(up).seq(seq).frame(flags, payload);
        self.bytes[usize::from(!up)] += frame.len() as u64;
        self.packets[usize::from(!up)] += 1;
        self.ts += 1_000;
        self.engine
            .process_packet(LinkType::Raw, &frame, self.ts, None)
    }

    /// SYN (with `syn_data`: TCP Fast Open), SYN-ACK, ACK.
    fn handshake(&mut self, syn_data: &[u8]) -> [Verdict; 3] {
        [
            self.send(true, ISN - 1, SYN, syn_data),
            self.send(false, 7000, SYN_ACK, &[]),
            self.send(true, ISN + syn_data.len() as u32, ACK, &[]),
        ]
    }

    /// A client segment at stream offset `offset`.
    fn data(&mut self, offset: usize, payload: &[u8]) -> Verdict {
        self.send(true, ISN.wrapping_add(offset as u32), PSH_ACK, payload)
    }

    /// Flush and return the flow's one record, checking its counts.
    fn record(&self) -> ActivityRecord {
        self.engine.flush(self.ts + 1);
        let recs = self.engine.drain(16);
        assert_eq!(recs.len(), 1, "{recs:?}");
        let r = recs.into_iter().next().unwrap();
        assert_eq!(r.bytes_up, self.bytes[0], "bytes_up");
        assert_eq!(r.bytes_down, self.bytes[1], "bytes_down");
        assert_eq!(r.packets_up, self.packets[0], "packets_up");
        assert_eq!(r.packets_down, self.packets[1], "packets_down");
        r
    }
}

/// The index of the first segment after which `[0, need)` is all received.
fn completing(segments: &[(usize, Vec<u8>)], need: usize) -> usize {
    let mut have = vec![false; need];
    for (i, (off, data)) in segments.iter().enumerate() {
        let end = (*off + data.len()).min(need);
        if *off < end {
            have[*off..end].fill(true);
        }
        if have.iter().all(|&h| h) {
            return i;
        }
    }
    panic!("segments never cover the first {need} bytes");
}

/// Cut `stream` into `size`-byte segments (offset, bytes).
fn chunks(stream: &[u8], size: usize) -> Vec<(usize, Vec<u8>)> {
    stream
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (i * size, c.to_vec()))
        .collect()
}

/// Deterministic Fisher-Yates shuffle (xorshift).
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed | 1;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

/// Run a case: handshake, the segments, a server reply; the verdict is `Allow` until the segment
/// that completes the first `need` stream bytes and `want` from it on; the record names `name`
/// with app `app`.
fn run_case(
    port: u16,
    segments: &[(usize, Vec<u8>)],
    need: usize,
    name: &str,
    app: Option<&str>,
    want: Verdict,
) -> ActivityRecord {
    let mut c = Conn::new(port);
    assert_eq!(c.handshake(&[]), [Verdict::Allow; 3]);
    let done = completing(segments, need);
    for (i, (off, data)) in segments.iter().enumerate() {
        let v = c.data(*off, data);
        let expect = if i < done { Verdict::Allow } else { want };
        assert_eq!(
            v,
            expect,
            "segment {i} of {} (completes at {done})",
            segments.len()
        );
    }
    assert_eq!(c.send(false, 7001, PSH_ACK, b"server"), want);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some(name));
    assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), app);
    assert_eq!(r.verdict, want);
    r
}

fn blocked(segments: &[(usize, Vec<u8>)], need: usize) -> ActivityRecord {
    run_case(443, segments, need, SNI, Some("dropbox"), Verdict::Block)
}

fn hello() -> Vec<u8> {
    chromium_hello(SNI, 0)
}

#[test]
fn one_byte_segments_in_order() {
    let h = hello();
    assert!(h.len() > 1500, "{}", h.len());
    let r = blocked(&chunks(&h, 1), h.len());
    assert!(r.ja4.is_some());
}

#[test]
fn seven_byte_segments_reversed() {
    let h = hello();
    let mut segs = chunks(&h, 7);
    segs.reverse();
    blocked(&segs, h.len());
}

#[test]
fn thirteen_byte_segments_shuffled() {
    let h = hello();
    let mut segs = chunks(&h, 13);
    shuffle(&mut segs, 0x5eed);
    blocked(&segs, h.len());
}

#[test]
fn retransmissions_overlapping_the_next_segment() {
    let h = hello();
    // 100-byte segments, each retransmitted as 150 bytes reaching into the next one.
    let mut segs = Vec::new();
    for off in (0..h.len()).step_by(100) {
        segs.push((off, h[off..(off + 100).min(h.len())].to_vec()));
        segs.push((off, h[off..(off + 150).min(h.len())].to_vec()));
    }
    blocked(&segs, h.len());
}

#[test]
fn duplicate_segments() {
    let h = hello();
    let mut segs = Vec::new();
    for (off, data) in chunks(&h, 40) {
        for _ in 0..3 {
            segs.push((off, data.clone()));
        }
    }
    blocked(&segs, h.len());
}

#[test]
fn split_inside_the_sni() {
    let h = hello();
    let at = h
        .windows(SNI.len())
        .position(|w| w == SNI.as_bytes())
        .unwrap()
        + 5;
    let segs = vec![(at, h[at..].to_vec()), (0, h[..at].to_vec())];
    blocked(&segs, h.len());
}

#[test]
fn tiny_tls_records() {
    let hs = chromium_handshake(SNI, 0);
    let stream = records(&hs, &[1, 2, 3, 5, 8]);
    blocked(&chunks(&stream, 64), stream.len());
}

#[test]
fn records_of_16_and_3_then_shuffled_11_byte_segments() {
    let hs = chromium_handshake(SNI, 0);
    let stream = records(&hs, &[16, 3]);
    let mut segs = chunks(&stream, 11);
    shuffle(&mut segs, 42);
    blocked(&segs, stream.len());
}

#[test]
fn conflicting_overlap_first_received_byte_wins() {
    let real = hello();
    let decoy = chromium_hello("www.dropbox.org", 0);
    assert_eq!(real.len(), decoy.len());
    let at = real
        .windows(SNI.len())
        .position(|w| w == SNI.as_bytes())
        .unwrap();
    // Real bytes first, then a decoy (bad checksum or not: checksums are not read) rewriting the
    // name: the server keeps what it accepted in order, and so does cloudsight.
    let segs = vec![
        (0, real[..at + 20].to_vec()),
        (at, decoy[at..at + 20].to_vec()),
        (at + 20, real[at + 20..].to_vec()),
    ];
    let r = blocked(&segs, real.len());
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    // The decoy's bytes first: the stream carries two versions of the name, and the server may
    // have taken either (the decoy may never have reached it). Both are read; the real one's
    // verdict (Block) is the stricter, so it names the flow, from the completing segment on.
    let segs = vec![
        (0, real[..at].to_vec()),
        (at, decoy[at..at + 20].to_vec()),
        (at, real[at..].to_vec()),
    ];
    let r = blocked(&segs, real.len());
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    // Both versions allowed: the first received one names the flow, as before.
    let other = chromium_hello("www.dropbox.net", 0);
    let segs = vec![
        (0, decoy[..at].to_vec()),
        (at, decoy[at..at + 20].to_vec()),
        (at, other[at..].to_vec()),
    ];
    run_case(
        443,
        &segs,
        real.len(),
        "www.dropbox.org",
        None,
        Verdict::Allow,
    );
}

/// A whole decoy hello (another, allowed name; another length) at the stream start, then the
/// real hello at the same sequence number: the decoy names the flow and is allowed (the sensor
/// cannot know the server never got it), the real hello is read as a second version and its
/// stricter verdict blocks from its own packet on. In either length order.
#[test]
fn decoy_hello_before_the_real_one_is_read_both_ways() {
    let real = hello();
    for decoy_sni in ["example.org", "a-much-longer-allowed-name.example.org"] {
        let decoy = chromium_hello(decoy_sni, 0);
        assert_ne!(decoy.len(), real.len());
        let mut c = Conn::new(443);
        c.handshake(&[]);
        assert_eq!(c.data(0, &decoy), Verdict::Allow, "{decoy_sni}");
        assert_eq!(c.data(0, &real), Verdict::Block, "{decoy_sni}");
        assert_eq!(c.send(false, 7001, PSH_ACK, b"server"), Verdict::Block);
        let r = c.record();
        assert_eq!(r.server_name.as_deref(), Some(SNI), "{decoy_sni}");
        assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
        assert_eq!(r.verdict, Verdict::Block);
        assert_eq!(c.engine.stats().hellos_reread, 1, "{decoy_sni}");
    }
}

/// The decoy hello, then the real one in two segments: the second version is read once it is
/// complete, and blocks from the segment that completes it.
#[test]
fn decoy_then_the_real_hello_in_two_segments() {
    let real = hello();
    // A short decoy (a plain hello), so that 700 bytes of the real one cover it.
    let decoy = client_hello("example.org", &["h2"], 1);
    assert!(
        decoy.len() < 700 && real.len() > 800,
        "{} {}",
        decoy.len(),
        real.len()
    );
    let mut c = Conn::new(443);
    c.handshake(&[]);
    assert_eq!(c.data(0, &decoy), Verdict::Allow);
    assert_eq!(c.data(0, &real[..700]), Verdict::Allow);
    assert_eq!(c.data(700, &real[700..]), Verdict::Block);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some(SNI));
}

/// The real hello first, then a decoy copy with an allowed name: the flow stays blocked (a
/// second reading never makes a verdict milder) and keeps the real name.
#[test]
fn decoy_after_the_real_hello_changes_nothing() {
    let real = hello();
    let decoy = chromium_hello("example.org", 0);
    let mut c = Conn::new(443);
    c.handshake(&[]);
    assert_eq!(c.data(0, &real), Verdict::Block);
    assert_eq!(c.data(0, &decoy), Verdict::Block);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(c.engine.stats().hellos_reread, 1);
}

/// Once the server has answered, the version it took is settled: a later "hello" in the client's
/// stream is application data to the server and is not read (nor is a plain retransmission of
/// the hello, which changes nothing).
#[test]
fn the_server_answer_ends_the_second_reading() {
    let real = hello();
    let decoy = chromium_hello("example.org", 0);
    let mut c = Conn::new(443);
    c.handshake(&[]);
    assert_eq!(c.data(0, &decoy), Verdict::Allow);
    assert_eq!(c.data(0, &decoy), Verdict::Allow, "a retransmission");
    assert_eq!(
        c.send(false, 7001, PSH_ACK, b"server hello"),
        Verdict::Allow
    );
    assert_eq!(c.data(0, &real), Verdict::Allow);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some("example.org"));
    assert_eq!(c.engine.stats().hellos_reread, 0);
    assert_eq!(c.engine.stats().inspect_memory, 0, "the watch is over");
}

#[test]
fn out_of_window_decoys_are_ignored() {
    let real = hello();
    let decoy = chromium_hello("www.example.org", 0);
    let mut c = Conn::new(443);
    c.handshake(&[]);
    // A whole decoy hello far past the window, and one ending before the stream start.
    assert_eq!(c.data(1 << 20, &decoy), Verdict::Allow);
    assert_eq!(
        c.send(
            true,
            ISN.wrapping_sub(decoy.len() as u32 + 10),
            PSH_ACK,
            &decoy
        ),
        Verdict::Allow
    );
    assert_eq!(c.data(0, &real[..500]), Verdict::Allow);
    assert_eq!(c.data(500, &real[500..]), Verdict::Block);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some(SNI));
}

#[test]
fn tcp_fast_open_hello_in_the_syn() {
    let h = hello();
    let mut c = Conn::new(443);
    let v = c.handshake(&h);
    assert_eq!(v, [Verdict::Block; 3]);
    assert_eq!(c.record().server_name.as_deref(), Some(SNI));
    // Split: the first 300 bytes in the SYN, the rest after the handshake.
    let mut c = Conn::new(443);
    assert_eq!(c.handshake(&h[..300]), [Verdict::Allow; 3]);
    assert_eq!(c.data(300, &h[300..]), Verdict::Block);
    assert_eq!(c.record().server_name.as_deref(), Some(SNI));
}

#[test]
fn odd_port_with_100_byte_segments() {
    let h = hello();
    run_case(
        8853,
        &chunks(&h, 100),
        h.len(),
        SNI,
        Some("dropbox"),
        Verdict::Block,
    );
}

#[test]
fn sni_mixed_case_with_trailing_dot() {
    let h = chromium_hello("WwW.DropBox.CoM.", 0);
    blocked(&chunks(&h, 200), h.len());
}

#[test]
fn http_request_in_one_byte_segments_reversed() {
    let req =
        b"GET /s/abc HTTP/1.1\r\nUser-Agent: x\r\nHost: www.dropbox.com\r\nAccept: */*\r\n\r\n";
    let need = req.windows(5).position(|w| w == b".com\r").unwrap() + 6;
    let mut segs = chunks(req, 1);
    segs.reverse();
    let r = blocked(&segs, need);
    assert_eq!(r.name_source, Some(cloudsight::NameSource::HttpHost));
}

/// A decoy HTTP request (allowed host, a bad checksum or low TTL so the server drops it), then the
/// real one at the same offsets: read both ways, the stricter verdict holds from the real
/// request's packet; decoys longer and shorter than the real request, and the real one after.
#[test]
fn decoy_http_request_before_the_real_one_is_read_both_ways() {
    let real: &[u8] = b"GET /s/abc HTTP/1.1\r\nHost: www.dropbox.com\r\nAccept: */*\r\n\r\n";
    let decoys: [&[u8]; 2] = [
        b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n",
        b"GET /a/much/longer/path HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: x\r\n\r\n",
    ];
    for decoy in decoys {
        assert_ne!(decoy.len(), real.len());
        // Mid-connection (no SYN seen: the request's first segment anchors the stream), and
        // after a PROXY protocol header.
        for (syn, proxy) in [
            (false, &b""[..]),
            (true, b"PROXY TCP4 10.0.0.5 1.2.3.4 5 80\r\n"),
        ] {
            let mut c = Conn::new(80);
            if syn {
                c.handshake(&[]);
                c.data(0, proxy);
            }
            let at = proxy.len();
            assert_eq!(c.data(at, decoy), Verdict::Allow);
            assert_eq!(c.data(at, real), Verdict::Block, "syn {syn}");
            assert_eq!(c.record().server_name.as_deref(), Some(SNI));
        }
        let mut c = Conn::new(80);
        c.handshake(&[]);
        assert_eq!(c.data(0, decoy), Verdict::Allow);
        assert_eq!(c.data(0, real), Verdict::Block);
        assert_eq!(
            c.send(false, 7001, PSH_ACK, b"HTTP/1.1 200 OK\r\n\r\n"),
            Verdict::Block
        );
        let r = c.record();
        assert_eq!(r.server_name.as_deref(), Some(SNI));
        assert_eq!(r.name_source, Some(cloudsight::NameSource::HttpHost));
        assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
        assert_eq!(c.engine.stats().hellos_reread, 1);
        // The real request first, then a decoy: still blocked, the real name kept.
        let mut c = Conn::new(80);
        c.handshake(&[]);
        assert_eq!(c.data(0, real), Verdict::Block);
        assert_eq!(c.data(0, decoy), Verdict::Block);
        assert_eq!(c.record().server_name.as_deref(), Some(SNI));
    }
}

/// The real request split in two after a decoy: the second version names the flow once its Host
/// line is in; the server's answer ends the watch (a later "request" is data to the server),
/// and the watch's buffers are given back.
#[test]
fn decoy_http_request_then_the_real_one_in_two_segments_and_the_answer_ends_it() {
    let real: &[u8] = b"GET / HTTP/1.1\r\nUser-Agent: curl/8\r\nHost: www.dropbox.com\r\n\r\n";
    let decoy: &[u8] = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
    let mut c = Conn::new(80);
    c.handshake(&[]);
    assert_eq!(c.data(0, decoy), Verdict::Allow);
    assert_eq!(c.data(0, &real[..30]), Verdict::Allow);
    assert_eq!(c.data(30, &real[30..]), Verdict::Block);
    assert_eq!(c.record().server_name.as_deref(), Some(SNI));
    // No SYN seen and the decoy itself in two segments.
    let mut c = Conn::new(80);
    assert_eq!(c.data(0, &decoy[..10]), Verdict::Allow);
    assert_eq!(c.data(10, &decoy[10..]), Verdict::Allow);
    assert_eq!(c.data(0, real), Verdict::Block);
    assert_eq!(c.record().server_name.as_deref(), Some(SNI));

    let mut c = Conn::new(80);
    c.handshake(&[]);
    assert_eq!(c.data(0, decoy), Verdict::Allow);
    assert_eq!(
        c.send(false, 7001, PSH_ACK, b"HTTP/1.1 200 OK\r\n\r\n"),
        Verdict::Allow
    );
    assert_eq!(c.engine.stats().inspect_memory, 0, "the watch is over");
    assert_eq!(c.data(0, real), Verdict::Allow);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some("example.org"));
    assert_eq!(c.engine.stats().hellos_reread, 0);
}

#[test]
fn http_odd_method_and_spacing() {
    let req = b"\r\nMKCALENDAR   /x\tHTTP/1.1\r\nhost:www.dropbox.com:80\r\n\r\n";
    blocked(&chunks(req, 3), req.len() - 2);
}

#[test]
fn loose_request_line_named_by_its_host() {
    // A request line a server answers 400 (no version digit): Wireshark still reads its Host,
    // and so does cloudsight; here in 1-byte segments, reversed.
    let req = b"GET / HTTP/1.\r\nUser-Agent: x\r\nHost: www.dropbox.com\r\n\r\n";
    let mut segs = chunks(req, 1);
    segs.reverse();
    let r = blocked(&segs, req.len() - 2);
    assert_eq!(r.name_source, Some(cloudsight::NameSource::HttpHost));
}

#[test]
fn starttls_after_text_commands() {
    // POP3 / SMTP style: text commands that start like loose request lines ("AUTH", "CAPA"),
    // then STARTTLS and the hello in a later segment.
    let mut stream = Vec::new();
    let mut segs = Vec::new();
    for line in [&b"AUTH\r\n"[..], b"CAPA\r\n", b"STLS\r\n"] {
        segs.push((stream.len(), line.to_vec()));
        stream.extend_from_slice(line);
    }
    let at = stream.len();
    stream.extend_from_slice(&hello());
    for (off, c) in chunks(&stream[at..], 700) {
        segs.push((at + off, c));
    }
    blocked(&segs, stream.len());
}

#[test]
fn proxy_protocol_v1_before_a_hello() {
    let mut stream = b"PROXY TCP4 192.0.2.1 198.51.100.7 50123 443\r\n".to_vec();
    stream.extend_from_slice(&hello());
    blocked(&chunks(&stream, 30), stream.len());
}

#[test]
fn proxy_protocol_v2_before_a_hello() {
    let mut stream = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    stream.extend_from_slice(&[0x21, 0x11, 0, 12]);
    stream.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 7, 0xc3, 0xcb, 1, 0xbb]);
    stream.extend_from_slice(&hello());
    let mut segs = chunks(&stream, 9);
    segs.reverse();
    blocked(&segs, stream.len());
}

#[test]
fn hello_of_18_6_kb_with_the_sni_early() {
    let base = chromium_hello(SNI, 0).len() + 4 + 5;
    let hs = chromium_handshake(SNI, 18_600 - base);
    let stream = records(&hs, &[16_384]);
    assert!(stream.len() == 18_600, "{}", stream.len());
    // Complete once the first 16 KiB (the bound) are in; JA4 is left out (a prefix).
    let r = blocked(&chunks(&stream, 1000), 16 * 1024);
    assert_eq!(r.ja4, None);
}

// The C ABI: the same techniques through `cloudsight_engine_process_packet` (LINKTYPE 101).

fn c_feed(engine: *const cloudsight_engine, frame: &[u8], ts: u64) -> cloudsight_verdict {
    let mut verdict = cloudsight_verdict::Allow;
    // SAFETY: `engine` came from cloudsight_engine_new; the frame and verdict are valid.
    let r = unsafe {
        cloudsight_engine_process_packet(
            engine,
            101,
            frame.as_ptr(),
            frame.len(),
            ts,
            std::ptr::null(),
            &mut verdict,
        )
    };
    assert_eq!(r, cloudsight_result::Ok);
    verdict
}

fn c_api_case(segments: &[(usize, Vec<u8>)], need: usize) {
    let mut engine = std::ptr::null_mut();
    // SAFETY: a NULL config takes the defaults; `engine` is a valid out-pointer.
    assert_eq!(
        unsafe { cloudsight_engine_new(std::ptr::null(), &mut engine) },
        cloudsight_result::Ok
    );
    // SAFETY: the engine is live and the id NUL-terminated.
    assert_eq!(
        unsafe { cloudsight_engine_set_policy(engine, c"dropbox".as_ptr(), 1) },
        cloudsight_result::Ok
    );
    let up = Tcp::new((CLIENT, 50999), (SERVER, 443));
    let mut ts = 1;
    let mut feed = |up: bool, t: Tcp, flags, payload: &[u8]| {
        ts += 1;
        c_feed(engine, &t.up(up).frame(flags, payload), ts)
    };
    assert_eq!(
        feed(true, up.seq(ISN - 1), SYN, &[]),
        cloudsight_verdict::Allow
    );
    assert_eq!(
        feed(false, up.seq(7000), SYN_ACK, &[]),
        cloudsight_verdict::Allow
    );
    let done = completing(segments, need);
    for (i, (off, data)) in segments.iter().enumerate() {
        let v = feed(true, up.seq(ISN + *off as u32), PSH_ACK, data);
        let want = if i < done {
            cloudsight_verdict::Allow
        } else {
            cloudsight_verdict::Block
        };
        assert_eq!(v, want, "segment {i}");
    }
    assert_eq!(
        feed(false, up.seq(7001), PSH_ACK, b"x"),
        cloudsight_verdict::Block
    );
    // SAFETY: the engine is live and freed once.
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn c_api_one_byte_segments_and_shuffled_records() {
    let h = hello();
    c_api_case(&chunks(&h, 1), h.len());
    let stream = records(&chromium_handshake(SNI, 0), &[16, 3]);
    let mut segs = chunks(&stream, 11);
    shuffle(&mut segs, 7);
    c_api_case(&segs, stream.len());
}

#[test]
fn c_api_http_reversed() {
    let req = b"GET / HTTP/1.1\r\nHost: www.dropbox.com\r\n\r\n";
    let mut segs = chunks(req, 1);
    segs.reverse();
    c_api_case(&segs, req.len() - 2);
}

#[test]
fn c_api_decoy_hello_then_the_real_one() {
    // The decoy (4 bytes shorter) does not cover the real hello's length: the real one completes
    // the message, and blocks from its packet on.
    let real = hello();
    let decoy = chromium_hello("example.org", 0);
    assert!(decoy.len() < real.len());
    c_api_case(&[(0, decoy), (0, real.clone())], real.len());
}

/// An HTTP proxy tunnel: the CONNECT request, the proxy's answer, then `inner` sent through the
/// tunnel in `size`-byte segments. Returns the verdicts of the CONNECT and of each inner segment,
/// and the record.
fn through_connect(
    authority: &str,
    inner: &[u8],
    size: usize,
) -> (Verdict, Vec<Verdict>, ActivityRecord) {
    let connect = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let mut c = Conn::new(3128);
    assert_eq!(c.handshake(&[]), [Verdict::Allow; 3]);
    let at_connect = c.data(0, connect.as_bytes());
    let answer = b"HTTP/1.1 200 Connection established\r\n\r\n";
    assert_eq!(c.send(false, 7001, PSH_ACK, answer), at_connect);
    let verdicts = chunks(inner, size)
        .into_iter()
        .map(|(off, data)| c.data(connect.len() + off, &data))
        .collect();
    let r = c.record();
    (at_connect, verdicts, r)
}

/// Domain fronting through an HTTP proxy: the CONNECT names an allowed host, but the proxy hands
/// the tunnel's bytes to that host's server, which reads the hello (or request) sent through it.
/// What is sent through the tunnel names the flow, blocked from the segment that completes it.
#[test]
fn connect_to_an_allowed_host_then_a_blocked_app_through_the_tunnel() {
    let h = hello();
    let request = b"GET / HTTP/1.1\r\nHost: www.dropbox.com\r\n\r\n";
    let cases: [(&[u8], usize, cloudsight::NameSource); 3] = [
        (&h, 1, cloudsight::NameSource::TlsSni),
        (&h, 300, cloudsight::NameSource::TlsSni),
        (request, 7, cloudsight::NameSource::HttpHost),
    ];
    for (inner, size, source) in cases {
        let (at_connect, verdicts, r) = through_connect("www.example.org:443", inner, size);
        assert_eq!(at_connect, Verdict::Allow);
        let need = if source == cloudsight::NameSource::TlsSni {
            inner.len()
        } else {
            inner.windows(5).position(|w| w == b".com\r").unwrap() + 6
        };
        let done = completing(&chunks(inner, size), need);
        for (i, v) in verdicts.iter().enumerate() {
            let want = if i < done {
                Verdict::Allow
            } else {
                Verdict::Block
            };
            assert_eq!(*v, want, "segment {i} (size {size}), completes at {done}");
        }
        assert_eq!(r.server_name.as_deref(), Some(SNI));
        assert_eq!(r.name_source, Some(source));
        assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
        assert_eq!(r.verdict, Verdict::Block);
    }
}

/// The verdict never gets milder: a CONNECT to a blocked app stays blocked whatever is sent
/// through the tunnel, and keeps naming the flow when the tunnel's name is allowed; when both name
/// the same app, the hello names the flow (as Wireshark reads `ndpi_http_connect.pcap`).
#[test]
fn connect_to_a_blocked_app_stays_blocked() {
    let (at_connect, verdicts, r) = through_connect(
        "www.dropbox.com:443",
        &chromium_hello("www.example.org", 0),
        100,
    );
    assert_eq!(at_connect, Verdict::Block);
    assert!(verdicts.iter().all(|&v| v == Verdict::Block));
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(r.name_source, Some(cloudsight::NameSource::HttpHost));
    assert_eq!(r.verdict, Verdict::Block);

    let (at_connect, verdicts, r) = through_connect("www.dropbox.com:443", &hello(), 100);
    assert_eq!(at_connect, Verdict::Block);
    assert!(verdicts.iter().all(|&v| v == Verdict::Block));
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(r.name_source, Some(cloudsight::NameSource::TlsSni));
    assert!(r.ja4.is_some(), "the hello's details are the record's");
}

/// A decoy CONNECT to an allowed host (dropped by the proxy: bad checksum, low TTL), then the real
/// one to Dropbox at the same offsets, whole or in 16-byte segments: read both ways (the real
/// host overwrites the decoy's, whose line end completes it), blocked from the segment that
/// completes the real host on; the proxy's answer then opens the tunnel.
#[test]
fn decoy_connect_before_the_real_one_is_read_both_ways() {
    let decoy: &[u8] = b"CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n";
    let real: &[u8] = b"CONNECT www.dropbox.com:443 HTTP/1.1\r\nHost: www.dropbox.com:443\r\n\r\n";
    assert_eq!(
        decoy.len(),
        real.len(),
        "the decoy's line end completes the real host"
    );
    // Within the watch's 8 client segments (`the_server_answer_ends_the_second_reading`).
    for size in [real.len(), 16] {
        let mut c = Conn::new(3128);
        c.handshake(&[]);
        assert_eq!(c.data(0, decoy), Verdict::Allow);
        let need = real.windows(4).position(|w| w == b":443").unwrap();
        let segments = chunks(real, size);
        let done = completing(&segments, need);
        for (i, (off, data)) in segments.iter().enumerate() {
            let want = if i < done {
                Verdict::Allow
            } else {
                Verdict::Block
            };
            assert_eq!(c.data(*off, data), want, "segment {i} of {size} bytes");
        }
        let answer = b"HTTP/1.1 200 Connection established\r\n\r\n";
        assert_eq!(c.send(false, 7001, PSH_ACK, answer), Verdict::Block);
        let h = chromium_hello("www.example.org", 0);
        assert_eq!(c.data(real.len(), &h), Verdict::Block);
        let r = c.record();
        assert_eq!(r.server_name.as_deref(), Some(SNI));
        assert_eq!(r.verdict, Verdict::Block);
        // Each segment whose bytes differ from the decoy's is a second reading.
        let differing = segments
            .iter()
            .filter(|(off, data)| decoy[*off..*off + data.len()] != data[..])
            .count();
        assert_eq!(c.engine.stats().hellos_reread, differing as u64);
        assert_eq!(c.engine.stats().inspect_memory, 0);
    }
}

/// A client that sends through the tunnel before the proxy's answer (more segments than the
/// CONNECT's watch looks at): once the watch is spent the tunnel is looked into all the same.
#[test]
fn connect_without_waiting_for_the_proxy_answer() {
    let connect = b"CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n";
    let mut c = Conn::new(3128);
    c.handshake(&[]);
    assert_eq!(c.data(0, connect), Verdict::Allow);
    // Nine segments of another protocol's bytes (not a hello), then the hello.
    let mut at = connect.len();
    for _ in 0..9 {
        assert_eq!(c.data(at, b"\x00\x01junk"), Verdict::Allow);
        at += 6;
    }
    let h = hello();
    assert_eq!(c.data(at, &h), Verdict::Block);
    let r = c.record();
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(r.name_source, Some(cloudsight::NameSource::TlsSni));
}
