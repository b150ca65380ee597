//! IP fragment reassembly before inspection (IPv4 and IPv6, any order), its overlap policies and
//! bounds, and exact counts: every fragment's IP length counts toward its flow once, and a flow's
//! packets are its IP packets (fragments), as Wireshark and Zeek count them. Also TSO/LSO
//! super-packets (IPv4 Total Length 0, IPv6 Payload Length 0) counted by their captured length.

use std::net::IpAddr;

use cloudsight::{ActivityRecord, Config, Engine, LinkType, NameSource, Sanction, Verdict};
use cloudsight_testkit::packet::{fragment, fragment_at, ip, ACK, PSH_ACK, SYN, SYN_ACK};
use cloudsight_testkit::tls::client_hello;

const SECOND: u64 = 1_000_000_000;
const RFC9001_A2: &[u8] = include_bytes!("../src/inspect/testdata/rfc9001_a2_client_initial.bin");

fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (
            "2001:db8::5".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
        )
    } else {
        ("10.0.0.5".parse().unwrap(), "198.51.100.7".parse().unwrap())
    }
}

fn engine() -> Engine {
    let engine = Engine::new(Config::default()).unwrap();
    engine.update_policy(|p| {
        p.set_app("dropbox", Sanction::Unsanctioned);
        p.set_domain("example.com", Sanction::Unsanctioned);
    });
    engine
}

/// What the client and the server sent, in IP bytes and packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    bytes_up: u64,
    packets_up: u64,
    bytes_down: u64,
    packets_down: u64,
}

struct Conn<'e> {
    engine: &'e Engine,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    counts: Counts,
    ts: u64,
}

impl<'e> Conn<'e> {
    fn new(engine: &'e Engine, v6: bool, server_port: u16) -> Conn<'e> {
        let (c, s) = addrs(v6);
        Conn {
            engine,
            client: (c, 40000),
            server: (s, server_port),
            counts: Counts::default(),
            ts: 1_000 * SECOND,
        }
    }

    fn send(&mut self, up: bool, frame: &[u8]) -> Verdict {
        self.ts += 1_000;
        if up {
            self.counts.bytes_up += frame.len() as u64;
            self.counts.packets_up += 1;
        } else {
            self.counts.bytes_down += frame.len() as u64;
            self.counts.packets_down += 1;
        }
        self.engine
            .process_packet(LinkType::Raw, frame, self.ts, None)
    }

    fn handshake(&mut self) {
        let syn = ip(true, self.client, self.server, SYN, 100, b"");
        let syn_ack = ip(true, self.server, self.client, SYN_ACK, 900, b"");
        let ack = ip(true, self.client, self.server, ACK, 101, b"");
        self.send(true, &syn);
        self.send(false, &syn_ack);
        self.send(true, &ack);
    }

    /// The client's data segment (TCP) or datagram (UDP) as one unfragmented IP packet.
    fn datagram(&self, tcp: bool, payload: &[u8]) -> Vec<u8> {
        ip(tcp, self.client, self.server, PSH_ACK, 101, payload)
    }

    /// Send frames from the client; the verdict of the last one.
    fn send_all(&mut self, frames: &[Vec<u8>]) -> Verdict {
        let mut verdict = Verdict::Allow;
        for f in frames {
            verdict = self.send(true, f);
        }
        verdict
    }

    /// Flush and return the one record of this connection, checking its counts.
    fn record(&self) -> ActivityRecord {
        self.engine.flush(self.ts + 1);
        let records = self.engine.drain(usize::MAX);
        assert_eq!(records.len(), 1, "{records:#?}");
        let r = records.into_iter().next().unwrap();
        let got = Counts {
            bytes_up: r.bytes_up,
            packets_up: r.packets_up,
            bytes_down: r.bytes_down,
            packets_down: r.packets_down,
        };
        assert_eq!(got, self.counts, "counts of {r:#?}");
        assert_eq!((r.client_ip, r.client_port), self.client);
        r
    }
}

fn assert_dropbox_blocked(r: &ActivityRecord, source: NameSource) {
    assert_eq!(r.server_name.as_deref(), Some("www.dropbox.com"));
    assert_eq!(r.name_source, Some(source));
    assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
    assert_eq!(r.verdict, Verdict::Block);
}

/// A ClientHello after a TCP handshake, its segment cut into `size`-byte fragments, in order or
/// reversed.
fn hello_in_fragments(v6: bool, size: usize, reversed: bool) {
    let engine = engine();
    let mut conn = Conn::new(&engine, v6, 443);
    conn.handshake();
    let hello = client_hello("www.dropbox.com", &["h2"], 7);
    let mut frames = fragment(&conn.datagram(true, &hello), size, 0x4242);
    assert!(frames.len() > 2);
    if reversed {
        frames.reverse();
    }
    assert_eq!(
        conn.send_all(&frames),
        Verdict::Block,
        "the completing fragment"
    );
    let r = conn.record();
    assert_dropbox_blocked(&r, NameSource::TlsSni);
    let stats = engine.stats();
    assert_eq!(stats.defrag_reassembled, 1);
    assert_eq!(stats.fragments, frames.len() as u64);
    assert_eq!((stats.fragments_orphaned, stats.defrag_memory), (0, 0));
    assert_eq!(
        stats.ip_bytes,
        conn.counts.bytes_up + conn.counts.bytes_down
    );
}

#[test]
fn a_blocked_flow_blocks_the_first_fragment_of_its_next_datagram() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let hello = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    assert_eq!(conn.send(true, &hello), Verdict::Block);
    let next = ip(true, conn.client, conn.server, PSH_ACK, 2000, &[0x17; 300]);
    let frames = fragment(&next, 64, 77);
    assert_eq!(conn.send(true, &frames[1]), Verdict::Allow, "no ports yet");
    assert_eq!(conn.send(true, &frames[0]), Verdict::Block);
    assert_eq!(conn.send_all(&frames[2..]), Verdict::Block);
    assert_dropbox_blocked(&conn.record(), NameSource::TlsSni);
}

#[test]
fn client_hello_in_64_byte_ipv4_fragments_in_order() {
    hello_in_fragments(false, 64, false);
}

#[test]
fn client_hello_in_8_byte_ipv4_fragments_reversed() {
    // The first fragment holds 8 bytes: not even the TCP header (RFC 1858's tiny fragment).
    hello_in_fragments(false, 8, true);
}

#[test]
fn client_hello_in_ipv6_fragments_in_order() {
    hello_in_fragments(true, 64, false);
}

#[test]
fn client_hello_in_ipv6_fragments_reversed() {
    hello_in_fragments(true, 24, true);
}

#[test]
fn http_request_in_reversed_16_byte_ipv4_fragments() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 80);
    conn.handshake();
    let request = b"GET /s/abc HTTP/1.1\r\nHost: www.dropbox.com\r\nUser-Agent: t\r\n\r\n";
    let mut frames = fragment(&conn.datagram(true, request), 16, 7);
    frames.reverse();
    assert_eq!(conn.send_all(&frames), Verdict::Block);
    assert_dropbox_blocked(&conn.record(), NameSource::HttpHost);
}

#[test]
fn quic_initial_in_reversed_ipv4_fragments() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    let mut frames = fragment(&conn.datagram(false, RFC9001_A2), 256, 9);
    assert_eq!(frames.len(), 5);
    frames.reverse();
    assert_eq!(conn.send_all(&frames), Verdict::Block);
    let r = conn.record();
    assert_eq!(r.server_name.as_deref(), Some("example.com"));
    assert_eq!(r.name_source, Some(NameSource::QuicSni));
    assert_eq!(r.verdict, Verdict::Block);
}

#[test]
fn quic_initial_in_ipv6_fragments_shuffled() {
    let engine = engine();
    let mut conn = Conn::new(&engine, true, 443);
    let frames = fragment(&conn.datagram(false, RFC9001_A2), 200, 9);
    let order = [3, 0, 6, 1, 5, 2, 4];
    assert_eq!(frames.len(), order.len());
    let shuffled: Vec<_> = order.iter().map(|&i| frames[i].clone()).collect();
    assert_eq!(conn.send_all(&shuffled), Verdict::Block);
    assert_eq!(conn.record().name_source, Some(NameSource::QuicSni));
}

#[test]
fn a_duplicate_fragment_counts_and_changes_nothing() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let mut frames = fragment(&segment, 64, 1);
    // The second fragment again, and its first half again (same bytes, covered already).
    frames.insert(2, frames[1].clone());
    frames.insert(3, fragment_at(&segment, 64, 96, 1));
    conn.send_all(&frames);
    assert_dropbox_blocked(&conn.record(), NameSource::TlsSni);
    assert_eq!(engine.stats().defrag_overlap_dropped, 0);
}

#[test]
fn an_agreeing_ipv4_overlap_is_merged() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let payload_len = segment.len() - 20;
    // [0, 64), [32, 128) (half of it held already, same bytes), then the rest.
    let frames = [
        fragment_at(&segment, 0, 64, 3),
        fragment_at(&segment, 32, 128, 3),
        fragment_at(&segment, 128, payload_len, 3),
    ];
    conn.send_all(&frames);
    assert_dropbox_blocked(&conn.record(), NameSource::TlsSni);
}

/// Overlapping fragments that drop the datagram: it is not inspected (the flow stays unnamed)
/// but every fragment, before and after the overlap, still counts toward the flow.
fn overlap_drops(v6: bool, conflicting: bool) {
    let engine = engine();
    let mut conn = Conn::new(&engine, v6, 443);
    conn.handshake();
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let header = if v6 { 40 } else { 20 };
    let payload_len = segment.len() - header;
    let mut overlapping = fragment_at(&segment, 32, 128, 5);
    if conflicting {
        // Other bytes where [0, 64) is held: a different SNI for a first-wins/last-wins reader.
        let at = overlapping.len() - 96 + 8;
        overlapping[at] ^= 0xff;
    }
    let frames = [
        fragment_at(&segment, 0, 64, 5),
        overlapping,
        fragment_at(&segment, 64, 128, 5),
        fragment_at(&segment, 128, payload_len, 5),
    ];
    assert_eq!(conn.send_all(&frames), Verdict::Allow);
    let r = conn.record();
    assert_eq!(r.server_name, None);
    let stats = engine.stats();
    assert_eq!(stats.defrag_overlap_dropped, 1);
    assert_eq!(stats.defrag_reassembled, 0);
    assert_eq!(stats.fragments_orphaned, 0);
    // The tombstone of the dropped datagram goes at its timeout.
    engine.tick(conn.ts + 31 * SECOND);
    assert_eq!(engine.stats().defrag_memory, 0);
    assert_eq!(engine.stats().defrag_timed_out, 0);
}

#[test]
fn a_conflicting_ipv4_overlap_drops_the_datagram() {
    overlap_drops(false, true);
}

#[test]
fn any_ipv6_overlap_drops_the_datagram_rfc5722() {
    overlap_drops(true, false);
    overlap_drops(true, true);
}

#[test]
fn teardrop_and_ping_of_death_fragments_are_dropped_without_harm() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let segment = conn.datagram(true, &[0x55; 64]);
    // Teardrop: a last fragment that ends inside the first one.
    let first = fragment_at(&segment, 0, 48, 11);
    let mut inner = fragment_at(&segment, 8, 16, 11);
    inner[6] &= !0x20; // no More Fragments: the datagram would end at 16, before 48
    conn.send_all(&[first, inner]);
    // Ping of death: data past 65,535 bytes.
    let mut huge = fragment_at(&segment, 0, 64, 12);
    huge[6..8].copy_from_slice(&(8190u16).to_be_bytes()); // offset 65,520, no MF; ends past 65,535
    engine.process_packet(LinkType::Raw, &huge, conn.ts, None);
    // Misaligned: a non-last fragment of 12 bytes.
    let odd = fragment_at(&segment, 0, 12, 13);
    engine.process_packet(LinkType::Raw, &odd, conn.ts, None);
    let stats = engine.stats();
    assert_eq!(stats.defrag_overlap_dropped, 3);
    engine.tick(conn.ts + 60 * SECOND);
    assert_eq!(engine.stats().defrag_memory, 0);
    // The first fragment of the Teardrop datagram held the TCP header: both count to the flow.
    // The other two are orphans (the ping of death's offset is not 0; the misaligned one was
    // refused before its bytes were kept).
    let r = conn.record();
    assert_eq!(r.server_name, None);
    assert_eq!(engine.stats().fragments_orphaned, 2);
}

/// A datagram that never becomes whole was never delivered: its fragments are orphans, not the
/// flow's traffic (Wireshark leaves them undissected too), whether it times out or is still
/// pending when the engine is flushed.
#[test]
fn an_incomplete_datagram_times_out_and_counts_in_no_flow() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let handshake = conn.counts;
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let frames = fragment(&segment, 64, 21);
    // All but the last one.
    conn.send_all(&frames[..frames.len() - 1]);
    conn.counts = handshake;
    assert!(engine.stats().defrag_memory > 0);
    let timeout = Config::default().defrag_timeout_ns;
    assert_eq!(timeout, 60 * SECOND, "RFC 8200 §4.5");
    engine.tick(conn.ts + timeout - SECOND);
    assert_eq!(engine.stats().defrag_timed_out, 0);
    engine.tick(conn.ts + timeout + SECOND);
    let stats = engine.stats();
    assert_eq!((stats.defrag_timed_out, stats.defrag_memory), (1, 0));
    assert_eq!(stats.fragments_orphaned, frames.len() as u64 - 1);
    conn.ts += timeout + SECOND;
    let r = conn.record();
    assert_eq!(r.server_name, None);
}

#[test]
fn an_incomplete_datagram_pending_at_a_flush_counts_in_no_flow() {
    let engine = engine();
    let mut conn = Conn::new(&engine, true, 443);
    conn.handshake();
    let handshake = conn.counts;
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let frames = fragment(&segment, 64, 23);
    // The first fragment (the TCP header) and the next one: the flow is known, the datagram not.
    conn.send_all(&frames[..2]);
    conn.counts = handshake;
    let r = conn.record();
    assert_eq!(r.server_name, None);
    let stats = engine.stats();
    assert_eq!(stats.fragments_orphaned, 2);
    assert_eq!((stats.defrag_timed_out, stats.defrag_memory), (0, 0));
}

/// One fragment a second, 46 of them (Zeek's IPv6 reassembly capture): whole after 45 s, as a
/// receiver with RFC 8200's 60 s reassembly time takes it, with the clock ticking meanwhile.
#[test]
fn a_datagram_arriving_over_45_seconds_is_whole() {
    for v6 in [false, true] {
        let engine = engine();
        let mut conn = Conn::new(&engine, v6, 5000);
        let segment = conn.datagram(true, &[0x42; 46 * 64 - 20]);
        let frames = fragment(&segment, 64, 23);
        assert_eq!(frames.len(), 46);
        for f in &frames {
            conn.send(true, f);
            conn.ts += SECOND;
            engine.tick(conn.ts);
        }
        let stats = engine.stats();
        assert_eq!(
            (stats.defrag_reassembled, stats.defrag_timed_out),
            (1, 0),
            "v6 {v6}"
        );
        let r = conn.record();
        assert_eq!(r.packets_up, 46);
    }
}

#[test]
fn fragments_without_their_first_are_orphans_after_the_timeout() {
    let engine = engine();
    let mut conn = Conn::new(&engine, false, 443);
    let segment = conn.datagram(true, &[0x42; 200]);
    let frames = fragment(&segment, 64, 22);
    for f in &frames[1..] {
        conn.send(true, f);
    }
    let timeout = Config::default().defrag_timeout_ns;
    engine.tick(conn.ts + timeout + SECOND);
    let stats = engine.stats();
    assert_eq!(stats.defrag_timed_out, 1);
    assert_eq!(stats.fragments_orphaned, frames.len() as u64 - 1);
    engine.flush(conn.ts + timeout + 2 * SECOND);
    assert!(engine.drain(usize::MAX).is_empty());
}

#[test]
fn a_fragment_flood_stays_within_the_budget_and_is_counted() {
    let budget = 512 << 10;
    let engine = Engine::new(Config {
        max_defrag_bytes: budget,
        max_fragments: 256,
        ..Config::default()
    })
    .unwrap();
    engine.update_policy(|p| p.set_app("dropbox", Sanction::Unsanctioned));
    let (c, s) = addrs(false);
    let junk = ip(false, (c, 5000), (s, 53), 0, 0, &[0; 64]);
    let mut ts = SECOND;
    let mut peak = 0;
    for i in 0..8_000u32 {
        // Half near the end of a 64 KiB datagram (the largest buffer), half small.
        let mut f = fragment_at(&junk, 0, 64, i);
        if i % 2 == 0 {
            f[6..8].copy_from_slice(&(0x2000u16 | 8000).to_be_bytes());
        }
        f[12..16].copy_from_slice(&i.to_be_bytes()); // many sources
        ts += 1_000;
        engine.process_packet(LinkType::Raw, &f, ts, None);
        peak = peak.max(engine.stats().defrag_memory);
        if i % 400 == 0 {
            // A legitimate fragmented ClientHello amid the flood is still read.
            let mut conn = Conn::new(&engine, false, 443);
            conn.ts = ts;
            conn.client.1 = 40000 + (i / 400) as u16;
            conn.handshake();
            let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
            assert_eq!(
                conn.send_all(&fragment(&segment, 64, 0x10000 + i)),
                Verdict::Block
            );
            ts = conn.ts;
        }
    }
    let stats = engine.stats();
    assert!(peak <= budget as u64, "peak {peak} over {budget}");
    assert!(stats.defrag_over_budget > 4_000, "{stats:?}");
    assert_eq!(stats.defrag_reassembled, 20);
    engine.flush(ts);
    assert_eq!(engine.stats().defrag_memory, 0);
}

#[test]
fn no_reassembly_when_max_fragments_is_zero() {
    let engine = Engine::new(Config {
        max_fragments: 0,
        ..Config::default()
    })
    .unwrap();
    let mut conn = Conn::new(&engine, false, 443);
    conn.handshake();
    let segment = conn.datagram(true, &client_hello("www.dropbox.com", &["h2"], 7));
    let frames = fragment(&segment, 64, 1);
    conn.send_all(&frames);
    // The first fragment counts toward its flow (it holds the TCP header); the others are orphans.
    let stats = engine.stats();
    assert_eq!(stats.defrag_memory, 0);
    assert_eq!(stats.defrag_over_budget, frames.len() as u64);
    assert_eq!(stats.fragments_orphaned, frames.len() as u64 - 1);
    engine.flush(conn.ts);
    let records = engine.drain(usize::MAX);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].server_name, None);
    assert_eq!(records[0].packets_up, 3);
}

/// A TSO/LSO (or BIG TCP) super-packet as captured on the sending host: IPv4 Total Length 0,
/// or IPv6 Payload Length 0, and more payload than any MTU.
fn super_packet(v6: bool) {
    let engine = engine();
    let mut conn = Conn::new(&engine, v6, 80);
    conn.handshake();
    let mut body =
        b"POST /upload HTTP/1.1\r\nHost: www.dropbox.com\r\nContent-Length: 9000\r\n\r\n".to_vec();
    body.resize(body.len() + 9000, b'x');
    let mut frame = conn.datagram(true, &body);
    if v6 {
        frame[4..6].copy_from_slice(&[0, 0]);
    } else {
        frame[2..4].copy_from_slice(&[0, 0]);
    }
    assert_eq!(conn.send(true, &frame), Verdict::Block);
    assert_dropbox_blocked(&conn.record(), NameSource::HttpHost);
}

#[test]
fn tso_ipv4_total_length_zero_counts_the_captured_bytes() {
    super_packet(false);
}

#[test]
fn tso_ipv6_payload_length_zero_counts_the_captured_bytes() {
    super_packet(true);
}
