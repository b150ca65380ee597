//! Tunnels and encapsulations an endpoint meets (PPPoE over QinQ, NFLOG, GRE, GRE/PPP as PPTP
//! sends it, VXLAN, IP in IP four ways, an MPLS label stack, GTP-U): a whole TLS connection
//! wrapped in each one is exactly one flow, the inner one, as Wireshark counts it. The tunnel
//! endpoints make no flow; the flow is named from its ClientHello; its counts are the inner IP
//! packets' lengths and numbers, up and down; nothing is dropped. Also the ClientHello in inner IP
//! fragments (reassembled like any other), the nesting bound, and the same through the C API.

use std::net::IpAddr;

use cloudsight::capi::*;
use cloudsight::{
    ActivityRecord, Config, Engine, LinkType, NameSource, Sanction, Transport, Verdict,
};
use cloudsight_testkit::encap::{self as e, ether_type_of, ethernet};
use cloudsight_testkit::packet::{fragment, ip, ip_packet, ACK, PSH_ACK, SYN, SYN_ACK};
use cloudsight_testkit::sample::Pcap;
use cloudsight_testkit::tls::client_hello;
use cloudsight_testkit::{reader, workers};

const SNI: &str = "www.dropbox.com";
/// Client and server of the inner flow, IPv4 and IPv6.
const INNER4: (&str, &str) = ("10.0.0.5", "162.125.1.18");
const INNER6: (&str, &str) = ("2001:db8::5", "2620:100:6050::a27d:5012");
/// The tunnel endpoints (the client's side first).
const OUTER4: (&str, &str) = ("192.0.2.1", "198.51.100.2");
const OUTER6: (&str, &str) = ("2001:db8:ffff::1", "2001:db8:eeee::2");

fn addr(a: &str) -> IpAddr {
    a.parse().unwrap()
}

/// The tunnel endpoints, the sender's first.
fn ends(v6: bool, up: bool) -> (IpAddr, IpAddr) {
    let (a, b) = if v6 { OUTER6 } else { OUTER4 };
    if up {
        (addr(a), addr(b))
    } else {
        (addr(b), addr(a))
    }
}

/// Wraps one inner IP packet sent `up` (client to server) or down into a frame.
type Wrap<'a> = dyn Fn(bool, &[u8]) -> Vec<u8> + 'a;

/// The connection's inner IP packets: (up, packet): the handshake, the ClientHello, 1400 and
/// 600 bytes of server data, the client's ACK and a FIN exchange.
fn inner_packets(v6: bool) -> Vec<(bool, Vec<u8>)> {
    let (c, s) = if v6 { INNER6 } else { INNER4 };
    let client = (addr(c), 40000);
    let server = (addr(s), 443);
    let hello = client_hello(SNI, &["h2", "http/1.1"], 7);
    let up = |flags, seq, payload: &[u8]| (true, ip(true, client, server, flags, seq, payload));
    let down = |flags, seq, payload: &[u8]| (false, ip(true, server, client, flags, seq, payload));
    vec![
        up(SYN, 100, b""),
        down(SYN_ACK, 900, b""),
        up(ACK, 101, b""),
        up(PSH_ACK, 101, &hello),
        down(PSH_ACK, 901, &[0x16; 1400]),
        down(PSH_ACK, 2301, &[0x17; 600]),
        up(ACK, 101 + hello.len() as u32, b""),
    ]
}

/// Counts of the inner IP packets: (bytes up, packets up, bytes down, packets down).
fn counts(packets: &[(bool, Vec<u8>)]) -> (u64, u64, u64, u64) {
    packets
        .iter()
        .fold((0, 0, 0, 0), |(bu, pu, bd, pd), (up, p)| {
            if *up {
                (bu + p.len() as u64, pu + 1, bd, pd)
            } else {
                (bu, pu, bd + p.len() as u64, pd + 1)
            }
        })
}

fn engine() -> Engine {
    let engine = Engine::new(Config::default()).unwrap();
    engine.update_policy(|p| p.set_app("dropbox", Sanction::Unsanctioned));
    engine
}

/// Feed the connection wrapped by `wrap` under `link`; check the one record and the stats.
fn run(link: LinkType, v6: bool, wrap: &Wrap) -> ActivityRecord {
    let engine = engine();
    let packets = inner_packets(v6);
    let mut ts = 1_000_000_000;
    let mut verdicts = Vec::new();
    for (up, packet) in &packets {
        ts += 1_000_000;
        verdicts.push(engine.process_packet(link, &wrap(*up, packet), ts, None));
    }
    // Allowed until the ClientHello names the flow, blocked from then on.
    let want: Vec<Verdict> = (0..packets.len())
        .map(|i| {
            if i < 3 {
                Verdict::Allow
            } else {
                Verdict::Block
            }
        })
        .collect();
    assert_eq!(verdicts, want);
    engine.flush(ts + 1);
    let records = engine.drain(usize::MAX);
    assert_eq!(records.len(), 1, "one flow, the inner one: {records:#?}");
    let r = records.into_iter().next().unwrap();
    let (c, s) = if v6 { INNER6 } else { INNER4 };
    assert_eq!(r.protocol, Transport::Tcp);
    assert_eq!((r.client_ip, r.client_port), (addr(c), 40000));
    assert_eq!((r.server_ip, r.server_port), (addr(s), 443));
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(r.sni, None, "the SNI is the server name");
    assert_eq!(r.name_source, Some(NameSource::TlsSni));
    assert_eq!(r.app.as_ref().map(|a| a.id.as_str()), Some("dropbox"));
    assert_eq!(r.verdict, Verdict::Block);
    let (bytes_up, packets_up, bytes_down, packets_down) = counts(&packets);
    assert_eq!(
        (r.bytes_up, r.packets_up, r.bytes_down, r.packets_down),
        (bytes_up, packets_up, bytes_down, packets_down)
    );
    let stats = engine.stats();
    assert_eq!(stats.packets, packets.len() as u64);
    assert_eq!(stats.ip_bytes, bytes_up + bytes_down, "inner IP bytes");
    assert_eq!(stats.flows_created, 1);
    let drops = [
        stats.drop_link_truncated,
        stats.drop_not_ip,
        stats.drop_ip_malformed,
        stats.drop_other_protocol,
        stats.drop_transport_malformed,
        stats.drop_encap_malformed,
        stats.drop_encap_too_deep,
    ];
    assert_eq!(drops, [0; 7]);
    r
}

/// The outer IP packet between the tunnel endpoints carrying `payload` as `protocol`.
fn outer(v6: bool, up: bool, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let (a, b) = ends(v6, up);
    ip_packet(a, b, protocol, payload)
}

/// The outer UDP datagram between the tunnel endpoints: (sender's port, receiver's port).
fn outer_udp(up: bool, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let (a, b) = ends(false, up);
    ip(false, (a, ports.0), (b, ports.1), 0, 0, payload)
}

/// A PPP protocol number for an IP packet.
fn ppp_protocol(packet: &[u8]) -> u16 {
    if packet[0] >> 4 == 6 {
        e::PPP_IPV6
    } else {
        e::PPP_IPV4
    }
}

#[test]
fn pppoe_over_qinq() {
    for v6 in [false, true] {
        run(LinkType::Ethernet, v6, &|_, p| {
            let tags = [(e::ETHERTYPE_QINQ, 100), (e::ETHERTYPE_VLAN, 200)];
            let session = e::pppoe_session(ppp_protocol(p), p);
            ethernet(&tags, e::ETHERTYPE_PPPOE_SESSION, &session)
        });
    }
}

#[test]
fn nflog() {
    for v6 in [false, true] {
        run(LinkType::Nflog, v6, &move |_, p| {
            e::nflog(if v6 { 10 } else { 2 }, p)
        });
    }
    // The number reaches the same decoder.
    let engine = engine();
    let (_, packet) = &inner_packets(false)[0];
    let frame = e::nflog(2, packet);
    assert_eq!(
        engine.process_packet_linktype(239, &frame, 1, None),
        Ok(Verdict::Allow)
    );
    assert_eq!(engine.stats().flows_created, 1);
}

#[test]
fn gre_with_key_and_sequence_number() {
    for v6 in [false, true] {
        let r = run(LinkType::Ethernet, v6, &|up, p| {
            let gre = e::gre(true, Some(0x1000), Some(up as u32), ether_type_of(p), p);
            let o = outer(false, up, 47, &gre);
            ethernet(&[], ether_type_of(&o), &o)
        });
        assert_eq!(r.alpn, ["h2", "http/1.1"]);
    }
}

#[test]
fn gre_carrying_ethernet() {
    run(LinkType::Raw, false, &|up, p| {
        let frame = ethernet(&[], ether_type_of(p), p);
        outer(
            true,
            up,
            47,
            &e::gre(false, None, None, e::ETHERTYPE_TEB, &frame),
        )
    });
}

#[test]
fn gre_ppp_as_pptp_sends_it() {
    for v6 in [false, true] {
        run(LinkType::Raw, v6, &|up, p| {
            let call_id = if up { 0x4000 } else { 0x8000 };
            let gre = e::pptp_gre(call_id, Some(1), Some(1), &e::ppp(ppp_protocol(p), p));
            outer(false, up, 47, &gre)
        });
    }
}

#[test]
fn vxlan() {
    for v6 in [false, true] {
        run(LinkType::Ethernet, v6, &|up, p| {
            // Each VTEP picks its own source port (a hash of the inner flow).
            let ports = if up { (51000, 4789) } else { (62000, 4789) };
            let inner = ethernet(&[(e::ETHERTYPE_VLAN, 12)], ether_type_of(p), p);
            let o = outer_udp(up, ports, &e::vxlan(0x123456, &inner));
            ethernet(&[], ether_type_of(&o), &o)
        });
    }
}

#[test]
fn geneve_and_vxlan_gpe_with_replies_from_the_tunnel_port() {
    // The tunnel end answers from its well-known port to the other end's port: both directions
    // are the one inner flow (a reply was a plain UDP flow of its own before).
    for v6 in [false, true] {
        run(LinkType::Ethernet, v6, &|up, p| {
            let ports = if up { (51000, 6081) } else { (6081, 51000) };
            // Geneve: version 0, no options, protocol transparent Ethernet bridging, VNI 42.
            let mut g = vec![0, 0, 0x65, 0x58, 0, 0, 42, 0];
            g.extend(ethernet(&[], ether_type_of(p), p));
            let o = outer_udp(up, ports, &g);
            ethernet(&[], ether_type_of(&o), &o)
        });
        run(LinkType::Ethernet, v6, &|up, p| {
            let ports = if up { (51000, 4790) } else { (4790, 51000) };
            // VXLAN-GPE: P flag, next protocol IPv4 (1) or IPv6 (2), VNI 42.
            let mut g = vec![0x0c, 0, 0, if v6 { 2 } else { 1 }, 0, 0, 42, 0];
            g.extend_from_slice(p);
            let o = outer_udp(up, ports, &g);
            ethernet(&[], ether_type_of(&o), &o)
        });
    }
}

#[test]
fn ip_in_ip_4in4_6in4_4in6_6in6() {
    for outer_v6 in [false, true] {
        for inner_v6 in [false, true] {
            run(LinkType::Raw, inner_v6, &|up, p| {
                outer(outer_v6, up, if inner_v6 { 41 } else { 4 }, p)
            });
        }
    }
}

#[test]
fn mpls_two_label_stack() {
    for v6 in [false, true] {
        run(LinkType::Ethernet, v6, &|up, p| {
            let labels = if up { [16, 1000] } else { [17, 2000] };
            ethernet(&[], e::ETHERTYPE_MPLS, &e::mpls(&labels, p))
        });
    }
}

#[test]
fn gtp_u() {
    for v6 in [false, true] {
        run(LinkType::Raw, v6, &|up, p| {
            let teid = if up { 0x0100_0001 } else { 0x0200_0002 };
            let exts: [(u8, &[u8]); 1] = [(0x85, &[u8::from(up), 9])];
            let gtp = if up {
                e::gtp_u(teid, Some(7), &exts, p)
            } else {
                e::gtp_u(teid, None, &[], p)
            };
            outer_udp(up, (2152, 2152), &gtp)
        });
    }
}

#[test]
fn ayiya() {
    for v6 in [false, true] {
        run(LinkType::Raw, v6, &|up, p| {
            let ports = if up { (40000, 5072) } else { (5072, 40000) };
            outer_udp(up, ports, &e::ayiya(if up { 8 } else { 4 }, p))
        });
    }
}

#[test]
fn link_layers_ppp_cisco_hdlc_fddi_arcnet_ppi() {
    for v6 in [false, true] {
        run(LinkType::Ppp, v6, &|_, p| e::ppp(ppp_protocol(p), p));
        run(LinkType::PppHdlc, v6, &|_, p| e::ppp(ppp_protocol(p), p));
        run(LinkType::CiscoHdlc, v6, &|_, p| {
            e::cisco_hdlc(ether_type_of(p), p)
        });
        run(LinkType::Fddi, v6, &|_, p| e::fddi(p));
        run(LinkType::ArcnetLinux, v6, &|_, p| e::arcnet(true, false, p));
        run(LinkType::ArcnetBsd, v6, &|_, p| e::arcnet(false, false, p));
        run(LinkType::Ppi, v6, &|_, p| {
            e::ppi(1, &ethernet(&[], ether_type_of(p), p))
        });
    }
    run(LinkType::ArcnetLinux, false, &|_, p| {
        e::arcnet(true, true, p)
    });
    run(LinkType::ArcnetBsd, false, &|_, p| {
        e::arcnet(false, true, p)
    });
    // The numbers reach the same decoders.
    for (number, link) in [
        (7, LinkType::ArcnetBsd),
        (9, LinkType::Ppp),
        (10, LinkType::Fddi),
        (50, LinkType::PppHdlc),
        (104, LinkType::CiscoHdlc),
        (129, LinkType::ArcnetLinux),
        (192, LinkType::Ppi),
    ] {
        assert_eq!(LinkType::from_linktype(number), Some(link));
        assert_eq!(link as u32, number);
    }
}

#[test]
fn nested_tunnels_within_the_bound_and_past_it() {
    // GTP-U in VXLAN in GRE in PPPoE: four layers, one inner flow.
    run(LinkType::Ethernet, false, &|up, p| {
        let gtp = outer_udp(up, (2152, 2152), &e::gtp_u(1, None, &[], p));
        let vx = outer_udp(
            up,
            (50000, 4789),
            &e::vxlan(1, &ethernet(&[], 0x0800, &gtp)),
        );
        let gre = outer(false, up, 47, &e::gre(false, None, None, 0x0800, &vx));
        ethernet(
            &[],
            e::ETHERTYPE_PPPOE_SESSION,
            &e::pppoe_session(e::PPP_IPV4, &gre),
        )
    });
    // Nine layers of IP in IP: every frame a counted drop, no flow.
    let engine = engine();
    for (up, packet) in inner_packets(false) {
        let mut frame = packet;
        for _ in 0..=cloudsight::MAX_ENCAP_DEPTH {
            frame = outer(false, up, 4, &frame);
        }
        assert_eq!(
            engine.process_packet(LinkType::Raw, &frame, 1, None),
            Verdict::Allow
        );
    }
    engine.flush(2);
    assert_eq!(engine.drain(usize::MAX).len(), 0);
    let stats = engine.stats();
    assert_eq!((stats.drop_encap_too_deep, stats.flows_created), (7, 0));
}

#[test]
fn client_hello_in_inner_fragments_inside_gre() {
    let engine = engine();
    let mut packets = inner_packets(false);
    let (_, hello) = packets.remove(3);
    let mut pieces: Vec<(bool, Vec<u8>)> = fragment(&hello, 64, 0x4242)
        .into_iter()
        .map(|f| (true, f))
        .collect();
    pieces.reverse();
    let n = pieces.len() as u64;
    assert!(n > 3);
    packets.splice(3..3, pieces);
    let mut ts = 1;
    for (up, p) in &packets {
        ts += 1;
        let frame = outer(false, *up, 47, &e::gre(false, Some(5), None, 0x0800, p));
        engine.process_packet(LinkType::Raw, &frame, ts, None);
    }
    engine.flush(ts + 1);
    let records = engine.drain(usize::MAX);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    let (bytes_up, packets_up, bytes_down, packets_down) = counts(&packets);
    assert_eq!(
        (r.bytes_up, r.packets_up, r.bytes_down, r.packets_down),
        (bytes_up, packets_up, bytes_down, packets_down)
    );
    // Every fragment counted once: 3 other client packets and the fragments.
    assert_eq!(r.packets_up, 3 + n);
    let stats = engine.stats();
    assert_eq!((stats.fragments, stats.defrag_reassembled), (n, 1));
}

/// GTP-U and VXLAN datagrams that the tunnel's own IP layer fragmented (a 1500-byte user packet
/// plus its tunnel headers over a 1500-byte path), fragments in any order: each datagram is
/// reassembled, then decapsulated like a whole one; the inner flow is named and counts its inner
/// packets' lengths in as many packets as fragments came; no flow of the tunnel endpoints.
#[test]
fn fragmented_udp_tunnel_datagrams_are_decapsulated_after_reassembly() {
    type Tunnel = fn(bool, &[u8]) -> Vec<u8>;
    let tunnels: [(&str, Tunnel); 2] = [
        ("gtp-u", |up, p| {
            outer_udp(up, (2152, 2152), &e::gtp_u(7, None, &[], p))
        }),
        ("vxlan", |up, p| {
            let ports = if up { (51000, 4789) } else { (62000, 4789) };
            outer_udp(up, ports, &e::vxlan(9, &ethernet(&[], ether_type_of(p), p)))
        }),
    ];
    for (what, tunnel) in tunnels {
        let engine = engine();
        let packets = inner_packets(false);
        let mut fragments = 0u64;
        let mut reassembled = 0u64;
        let mut packets_up = 0u64;
        let mut packets_down = 0u64;
        let mut ts = 1_000_000_000;
        for (i, (up, p)) in packets.iter().enumerate() {
            let datagram = tunnel(*up, p);
            let mut pieces = fragment(&datagram, 256, 0x7700 + i as u32);
            if i % 2 == 1 {
                pieces.reverse();
            }
            // A datagram of one piece is no fragment (offset 0, no more fragments).
            if pieces.len() > 1 {
                fragments += pieces.len() as u64;
                reassembled += 1;
            }
            *if *up {
                &mut packets_up
            } else {
                &mut packets_down
            } += pieces.len() as u64;
            for piece in pieces {
                ts += 1_000;
                engine.process_packet(LinkType::Raw, &piece, ts, None);
            }
        }
        engine.flush(ts + 1);
        let records = engine.drain(usize::MAX);
        assert_eq!(records.len(), 1, "{what}: {records:#?}");
        let r = &records[0];
        assert_eq!(r.server_name.as_deref(), Some(SNI), "{what}");
        assert_eq!(r.verdict, Verdict::Block, "{what}");
        assert_eq!((r.client_ip, r.client_port), (addr(INNER4.0), 40000));
        let (bytes_up, _, bytes_down, _) = counts(&packets);
        assert_eq!(
            (r.bytes_up, r.packets_up, r.bytes_down, r.packets_down),
            (bytes_up, packets_up, bytes_down, packets_down),
            "{what}"
        );
        let stats = engine.stats();
        assert_eq!(stats.fragments, fragments, "{what}");
        assert_eq!(stats.defrag_reassembled, reassembled, "{what}");
        assert!(
            reassembled >= 3,
            "{what}: the hello and the server's data are fragmented"
        );
    }
}

/// Captures as `discover` reads them (its streaming reader and 2 worker threads): an NFLOG pcap
/// (LINKTYPE 239) and an Ethernet pcap of VXLAN whose two ends use different UDP source ports:
/// each connection one inner flow, client and server the right way round, counts exact. (That the
/// workers send both directions of a tunnel to one worker, in order, is the unit test
/// `both_directions_of_a_vxlan_or_gtp_tunnel_go_to_one_worker` in `cli/src/workers.rs`.)
#[test]
fn pcap_files_through_discover_workers() {
    let vxlan: &Wrap = &|up, p| {
        let ports = if up { (51000, 4789) } else { (62000, 4789) };
        let o = outer_udp(up, ports, &e::vxlan(9, &ethernet(&[], 0x0800, p)));
        ethernet(&[], 0x0800, &o)
    };
    let cases: [(u32, &Wrap); 2] = [(239, &|_, p| e::nflog(2, p)), (1, vxlan)];
    for (linktype, wrap) in cases {
        // Many connections (client ports), so that a split between workers would show.
        let mut pcap = Pcap::with_linktype(linktype);
        let mut ts = 1_700_000_000_000_000_000;
        let mut total = (0, 0, 0, 0);
        for conn in 0..20u16 {
            let packets = inner_packets(false);
            let c = counts(&packets);
            total = (total.0 + c.0, total.1 + c.1, total.2 + c.2, total.3 + c.3);
            for (up, p) in &packets {
                let mut p = p.clone();
                // Client port 40000 + conn (offset 20 up, 22 down: after the 20-byte IPv4 header).
                let at = if *up { 20 } else { 22 };
                p[at..at + 2].copy_from_slice(&(40000 + conn).to_be_bytes());
                ts += 1_000_000;
                pcap.frame(ts, &wrap(*up, &p));
            }
        }
        let bytes: &'static [u8] = Box::leak(pcap.into_bytes().into_boxed_slice());
        let engine = engine();
        let stream = reader::spawn(vec![reader::Source::Bytes("tunnel.pcap", bytes)]);
        let out = workers::run(&engine, stream, 2, false, |_| {}).unwrap();
        assert_eq!((out.frames, out.unknown_link.len()), (20 * 7, 0));
        engine.flush(ts + 1);
        let records = engine.drain(usize::MAX);
        assert_eq!(records.len(), 20, "one flow per connection, none split");
        let mut sum = (0, 0, 0, 0);
        for r in &records {
            assert_eq!(r.server_name.as_deref(), Some(SNI));
            assert_eq!((r.client_ip, r.server_port), (addr(INNER4.0), 443));
            sum = (
                sum.0 + r.bytes_up,
                sum.1 + r.packets_up,
                sum.2 + r.bytes_down,
                sum.3 + r.packets_down,
            );
        }
        assert_eq!(sum, total);
    }
}

// The C ABI: NFLOG (239) and VXLAN in Ethernet (1) through `cloudsight_engine_process_packet`.

fn c_feed(
    engine: *const cloudsight_engine,
    link: u32,
    frame: &[u8],
    ts: u64,
) -> cloudsight_verdict {
    let mut verdict = cloudsight_verdict::Allow;
    // SAFETY: `engine` came from cloudsight_engine_new; the frame and verdict are valid.
    let r = unsafe {
        cloudsight_engine_process_packet(
            engine,
            link,
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

#[test]
fn c_api_nflog_and_vxlan() {
    // Each with a frame whose encapsulation is cut short: an NFLOG TLV, an MPLS label.
    let cases: [(u32, &Wrap, Vec<u8>); 2] = [
        (239, &|_, p| e::nflog(2, p), vec![2, 0, 0, 0, 8, 0, 1, 0, 0]),
        (
            1,
            &|up, p| {
                let o = outer_udp(up, (50000, 4789), &e::vxlan(7, &ethernet(&[], 0x0800, p)));
                ethernet(&[], 0x0800, &o)
            },
            ethernet(&[], e::ETHERTYPE_MPLS, &[0, 1, 0]),
        ),
    ];
    for (link, wrap, cut) in cases {
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
        let packets = inner_packets(false);
        let mut ts = 1;
        for (i, (up, p)) in packets.iter().enumerate() {
            ts += 1;
            let want = if i < 3 {
                cloudsight_verdict::Allow
            } else {
                cloudsight_verdict::Block
            };
            assert_eq!(c_feed(engine, link, &wrap(*up, p), ts), want, "packet {i}");
        }
        // The frame whose encapsulation is cut short: counted, allowed.
        assert_eq!(c_feed(engine, link, &cut, ts), cloudsight_verdict::Allow);
        // SAFETY: the engine is live.
        assert_eq!(
            unsafe { cloudsight_engine_flush(engine, ts + 1) },
            cloudsight_result::Ok
        );
        let mut records = vec![cloudsight_record::default(); 4];
        let mut written = 0;
        // SAFETY: `records` holds 4 records of the size passed.
        let r = unsafe {
            cloudsight_engine_drain(
                engine,
                records.as_mut_ptr(),
                records.len(),
                std::mem::size_of::<cloudsight_record>(),
                &mut written,
            )
        };
        assert_eq!((r, written), (cloudsight_result::Ok, 1));
        let rec = &records[0];
        let (bytes_up, packets_up, bytes_down, packets_down) = counts(&packets);
        assert_eq!(
            (
                rec.bytes_up,
                rec.packets_up,
                rec.bytes_down,
                rec.packets_down
            ),
            (bytes_up, packets_up, bytes_down, packets_down)
        );
        assert_eq!((rec.client_port, rec.server_port), (40000, 443));
        assert_eq!(&rec.client_ip.addr[..4], &[10, 0, 0, 5]);
        // SAFETY: server_name is a NUL-terminated array the library filled.
        let name = unsafe { std::ffi::CStr::from_ptr(rec.server_name.as_ptr()) };
        assert_eq!(name.to_str(), Ok(SNI));
        let mut stats = cloudsight_stats::default();
        // SAFETY: the engine is live; `stats` is a valid out-pointer with its size set.
        assert_eq!(
            unsafe { cloudsight_engine_stats(engine, &mut stats) },
            cloudsight_result::Ok
        );
        assert_eq!(stats.ip_bytes, bytes_up + bytes_down);
        assert_eq!((stats.flows_created, stats.drop_encap_malformed), (1, 1));
        // SAFETY: the engine is live and freed once.
        unsafe { cloudsight_engine_free(engine) };
    }
}
