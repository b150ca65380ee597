//! Tunnels and encapsulations an endpoint meets (PPPoE over QinQ, NFLOG, GRE, GRE/PPP as PPTP
//! sends it, VXLAN, IP in IP four ways, an MPLS label stack, GTP-U): a whole TLS connection
//! wrapped in each one is exactly one flow, the inner one, as Wireshark counts it. The tunnel
//! endpoints make no flow; the flow is named from its ClientHello; its counts are the inner IP
//! packets' lengths and numbers, up and down; nothing is dropped. Also the ClientHello in inner IP
//! fragments (reassembled like any other), the nesting bound, and the same through the C API.
//! IEEE 802.11 (bare, radiotap, Prism, AVS, PPI; in Aruba's GRE) the same way, and A-MSDUs: each
//! frame counted once toward each flow it carries. IPComp behind IPsec AH (tunnel and transport
//! mode) inflated; an IPComp payload that does not inflate to one packet is a counted drop.

use std::cell::Cell;
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

/// The verdicts of the `n` packets of [`inner_packets`]: allowed until the ClientHello (the
/// fourth packet) names the flow, blocked from then on.
fn blocked_from_the_hello(n: usize) -> Vec<Verdict> {
    (0..n)
        .map(|i| {
            if i < 3 {
                Verdict::Allow
            } else {
                Verdict::Block
            }
        })
        .collect()
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
    assert_eq!(verdicts, blocked_from_the_hello(packets.len()));
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

/// What an IPsec stack with IPComp sends for `payload` of protocol `next_header`: AH, then the
/// IPComp payload when it carries data, else `payload` as it is (RFC 3173 §2.2: a sender skips
/// datagrams too small to gain, as the capture of libpcap's tests does for bare ACKs);
/// `compressed` counts the former.
fn ah_ipcomp(next_header: u8, payload: &[u8], compressed: &Cell<usize>) -> Vec<u8> {
    // Longer than an IPv6 and a TCP header: there is data.
    if payload.len() > 60 {
        let ipcomp = e::ipcomp(next_header, 0x63e1, payload);
        compressed.set(compressed.get() + 1);
        e::ah(e::IP_COMP, &ipcomp)
    } else {
        e::ah(next_header, payload)
    }
}

#[test]
fn ipcomp_tunnel_mode_behind_ah() {
    for outer_v6 in [false, true] {
        for inner_v6 in [false, true] {
            let next = if inner_v6 { 41 } else { 4 };
            let compressed = Cell::new(0);
            run(LinkType::Raw, inner_v6, &|up, p| {
                outer(outer_v6, up, e::IP_AH, &ah_ipcomp(next, p, &compressed))
            });
            // The ClientHello and the server's data; not the bare handshake packets.
            assert_eq!(compressed.get(), 3);
        }
    }
}

#[test]
fn ipcomp_transport_mode() {
    for v6 in [false, true] {
        let engine = engine();
        let (c, s) = if v6 { INNER6 } else { INNER4 };
        let header = if v6 { 40 } else { 20 };
        let compressed = Cell::new(0);
        // The inner packets' TCP segments compressed between the inner addresses: the flow counts
        // the packets as sent, outer IP lengths.
        let frames: Vec<(bool, Vec<u8>)> = inner_packets(v6)
            .into_iter()
            .map(|(up, p)| {
                let (from, to) = if up { (c, s) } else { (s, c) };
                let payload = ah_ipcomp(6, &p[header..], &compressed);
                (up, ip_packet(addr(from), addr(to), e::IP_AH, &payload))
            })
            .collect();
        assert_eq!(compressed.get(), 3);
        let verdicts: Vec<Verdict> = frames
            .iter()
            .enumerate()
            .map(|(i, (_, f))| engine.process_packet(LinkType::Raw, f, 1_000 + i as u64, None))
            .collect();
        assert_eq!(verdicts, blocked_from_the_hello(frames.len()));
        engine.flush(1_000_000);
        let records = engine.drain(usize::MAX);
        assert_eq!(records.len(), 1, "{records:#?}");
        let r = &records[0];
        assert_eq!((r.client_ip, r.client_port), (addr(c), 40000));
        assert_eq!(r.server_name.as_deref(), Some(SNI));
        assert_eq!(r.verdict, Verdict::Block);
        assert_eq!(
            (r.bytes_up, r.packets_up, r.bytes_down, r.packets_down),
            counts(&frames)
        );
        assert_eq!(engine.stats().drop_encap_malformed, 0);
    }
}

#[test]
fn ipcomp_that_does_not_inflate_to_one_packet_is_a_counted_drop() {
    let engine = engine();
    let (inner_c, inner_s) = (addr(INNER4.0), addr(INNER4.1));
    let hello = &inner_packets(false)[3].1;
    let bomb = e::ipcomp(4, 2, &vec![0; 70_000]);
    assert!(
        bomb.len() < 200,
        "a bomb: {} bytes inflate to 70,000",
        bomb.len()
    );
    let nested = e::ipcomp(
        4,
        2,
        &ip_packet(inner_c, inner_s, e::IP_COMP, &e::ipcomp(6, 2, &hello[20..])),
    );
    let mut not_deflate = vec![4, 0, 0, 2];
    not_deflate.extend_from_slice(&[0xff; 100]);
    let payloads: [&[u8]; 4] = [&bomb, &nested, &not_deflate, &[4, 0, 0]];
    for payload in payloads {
        let frame = outer(false, true, e::IP_COMP, payload);
        assert_eq!(
            engine.process_packet(LinkType::Raw, &frame, 1_000, None),
            Verdict::Allow
        );
    }
    // The same hello compressed once, as a sender does, is a packet of the flow.
    let once = outer(false, true, e::IP_COMP, &e::ipcomp(4, 2, hello));
    engine.process_packet(LinkType::Raw, &once, 2_000, None);
    let stats = engine.stats();
    assert_eq!(stats.drop_encap_malformed, 4);
    assert_eq!(stats.flows_created, 1);
    engine.flush(1_000_000);
    let records = engine.drain(usize::MAX);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].server_name.as_deref(), Some(SNI));
    assert_eq!(
        (records[0].bytes_up, records[0].packets_up),
        (hello.len() as u64, 1)
    );
}

#[test]
fn link_layers_ppp_cisco_hdlc_fddi_arcnet_ppi() {
    for v6 in [false, true] {
        run(LinkType::Ppp, v6, &|_, p| e::ppp(ppp_protocol(p), p));
        run(LinkType::PppHdlc, v6, &|_, p| e::ppp(ppp_protocol(p), p));
        run(LinkType::CiscoHdlc, v6, &|_, p| {
            e::cisco_hdlc(ether_type_of(p), p)
        });
        // Cisco HDLC frames in a capture that declares PPP (nDPI's BGP_Cisco_hdlc_slarp.pcap),
        // unicast and broadcast addresses.
        run(LinkType::Ppp, v6, &|up, p| {
            let mut f = e::cisco_hdlc(ether_type_of(p), p);
            f[0] = if up { 0x0f } else { 0x8f };
            f
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

/// An 802.11 data frame carrying `p` up (to the AP) or down (from it), QoS with `qos` when given.
fn wlan(up: bool, flags: u8, qos: Option<u8>, p: &[u8]) -> Vec<u8> {
    let ds = if up { e::WLAN_TO_DS } else { e::WLAN_FROM_DS };
    e::wlan_data(ds | flags, qos, &e::wlan_msdu(p))
}

/// Aruba's GRE (`protocol`) around the 802.11 frame `wlan` between the tunnel endpoints.
fn aruba(up: bool, protocol: u16, wlan: &[u8]) -> Vec<u8> {
    let o = outer(false, up, 47, &e::gre(false, None, None, protocol, wlan));
    ethernet(&[], 0x0800, &o)
}

#[test]
fn ieee80211_bare_radiotap_prism_avs_ppi() {
    let four = e::WLAN_TO_DS | e::WLAN_FROM_DS;
    for v6 in [false, true] {
        run(LinkType::Ieee80211, v6, &|up, p| wlan(up, 0, None, p));
        run(LinkType::Ieee80211, v6, &|up, p| wlan(up, 0, Some(0), p));
        // QoS with the HT Control of +HTC.
        run(LinkType::Ieee80211, v6, &|up, p| {
            wlan(up, e::WLAN_ORDER, Some(0), p)
        });
        // ToDS and FromDS: four addresses (WDS, mesh), with and without QoS and HTC.
        run(LinkType::Ieee80211, v6, &|_, p| {
            e::wlan_data(four, None, &e::wlan_msdu(p))
        });
        run(LinkType::Ieee80211, v6, &|_, p| {
            e::wlan_data(four | e::WLAN_ORDER, Some(0), &e::wlan_msdu(p))
        });
        // Radiotap with and without the FCS, one or two present bitmaps.
        run(LinkType::Ieee80211Radiotap, v6, &|up, p| {
            e::radiotap(up, !up, &wlan(up, 0, Some(0), p))
        });
        run(LinkType::Ieee80211Radiotap, v6, &|up, p| {
            e::radiotap(!up, up, &wlan(up, e::WLAN_ORDER, Some(0), p))
        });
        run(LinkType::Ieee80211Prism, v6, &|up, p| {
            e::prism(&wlan(up, 0, None, p))
        });
        run(LinkType::Ieee80211Avs, v6, &|up, p| {
            e::avs(&wlan(up, 0, Some(0), p))
        });
        run(LinkType::Ppi, v6, &|up, p| {
            e::ppi(105, &wlan(up, 0, None, p))
        });
    }
    // The numbers reach the same decoders.
    for (number, link) in [
        (105, LinkType::Ieee80211),
        (119, LinkType::Ieee80211Prism),
        (127, LinkType::Ieee80211Radiotap),
        (163, LinkType::Ieee80211Avs),
    ] {
        assert_eq!(LinkType::from_linktype(number), Some(link));
        assert_eq!(link as u32, number);
    }
}

#[test]
fn aruba_gre_80211_plain_and_amsdu() {
    for v6 in [false, true] {
        run(LinkType::Ethernet, v6, &|up, p| {
            aruba(up, 0x8200, &wlan(up, 0, Some(0), p))
        });
        // One packet per A-MSDU, as Aruba's controllers forward them.
        run(LinkType::Ethernet, v6, &|up, p| {
            let ds = if up { e::WLAN_TO_DS } else { e::WLAN_FROM_DS };
            let frame = e::wlan_data(ds, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[p]));
            aruba(up, 0x8240, &frame)
        });
    }
}

/// A second connection, 10.0.0.6:40001 -> 198.51.100.9:8443, of `n` packets (100 bytes up, then
/// 300 bytes down, alternating).
fn other_flow(n: usize) -> Vec<(bool, Vec<u8>)> {
    let client = (addr("10.0.0.6"), 40001);
    let server = (addr("198.51.100.9"), 8443);
    (0..n)
        .map(|i| {
            let up = i % 2 == 0;
            let (a, b, len) = if up {
                (client, server, 100)
            } else {
                (server, client, 300)
            };
            (up, ip(true, a, b, PSH_ACK, i as u32, &vec![0x17; len]))
        })
        .collect()
}

#[test]
fn amsdu_subframes_of_two_flows_count_in_both() {
    // Each frame an A-MSDU of the TLS connection's packet and the other flow's: both flows
    // exact, the verdict the stricter of the two (the TLS flow is blocked once named).
    let engine = engine();
    let tls = inner_packets(false);
    let other = other_flow(tls.len());
    let mut ts = 1_000_000_000;
    let mut verdicts = Vec::new();
    for ((up, p), (_, q)) in tls.iter().zip(&other) {
        ts += 1_000_000;
        let ds = if *up { e::WLAN_TO_DS } else { e::WLAN_FROM_DS };
        let frame = e::wlan_data(ds, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[p, q]));
        verdicts.push(engine.process_packet(LinkType::Ieee80211, &frame, ts, None));
    }
    assert_eq!(verdicts, blocked_from_the_hello(tls.len()));
    engine.flush(ts + 1);
    let mut records = engine.drain(usize::MAX);
    records.sort_by_key(|r| r.server_port);
    assert_eq!(records.len(), 2, "{records:#?}");
    let (tls_rec, other_rec) = (&records[0], &records[1]);
    assert_eq!(tls_rec.server_port, 443);
    assert_eq!(tls_rec.server_name.as_deref(), Some(SNI));
    assert_eq!(tls_rec.verdict, Verdict::Block);
    let c = counts(&tls);
    assert_eq!(
        (
            tls_rec.bytes_up,
            tls_rec.packets_up,
            tls_rec.bytes_down,
            tls_rec.packets_down
        ),
        c
    );
    assert_eq!(
        (other_rec.client_port, other_rec.server_port),
        (40001, 8443)
    );
    assert_eq!(other_rec.verdict, Verdict::Allow);
    let o = counts(&other);
    assert_eq!(
        (
            other_rec.bytes_up,
            other_rec.packets_up,
            other_rec.bytes_down,
            other_rec.packets_down
        ),
        o
    );
    let stats = engine.stats();
    assert_eq!(stats.packets, tls.len() as u64, "frames");
    assert_eq!(stats.ip_bytes, c.0 + c.2 + o.0 + o.2);
    assert_eq!(stats.flows_created, 2);
    assert_eq!(stats.drop_not_ip + stats.drop_link_truncated, 0);
}

#[test]
fn amsdu_subframes_of_one_flow_count_the_frame_once() {
    // The ClientHello in two segments in one A-MSDU (inside Aruba's GRE), the server's two data
    // segments in another: each frame counts one packet, of its last subframe's IP length, as
    // Wireshark's per-frame view counts it; both halves of the hello are read and name the flow.
    let engine = engine();
    let packets = inner_packets(false);
    let hello = client_hello(SNI, &["h2", "http/1.1"], 7);
    let (c, s) = INNER4;
    let client = (addr(c), 40000);
    let server = (addr(s), 443);
    let first = ip(true, client, server, PSH_ACK, 101, &hello[..60]);
    let second = ip(true, client, server, PSH_ACK, 161, &hello[60..]);
    let mut ts = 1_000_000_000;
    let mut feed = |up: bool, subframes: &[&[u8]]| {
        ts += 1_000_000;
        let ds = if up { e::WLAN_TO_DS } else { e::WLAN_FROM_DS };
        let frame = e::wlan_data(ds, Some(e::WLAN_QOS_AMSDU), &e::amsdu(subframes));
        engine.process_packet(LinkType::Ethernet, &aruba(up, 0x8240, &frame), ts, None)
    };
    let mut verdicts = Vec::new();
    for (up, p) in &packets[..3] {
        verdicts.push(feed(*up, &[p]));
    }
    verdicts.push(feed(true, &[&first, &second]));
    verdicts.push(feed(false, &[&packets[4].1, &packets[5].1]));
    verdicts.push(feed(true, &[&packets[6].1]));
    assert_eq!(
        verdicts,
        [
            Verdict::Allow,
            Verdict::Allow,
            Verdict::Allow,
            Verdict::Block,
            Verdict::Block,
            Verdict::Block
        ]
    );
    engine.flush(ts + 1);
    let records = engine.drain(usize::MAX);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.server_name.as_deref(), Some(SNI));
    assert_eq!(r.name_source, Some(NameSource::TlsSni));
    let len = |p: &[u8]| p.len() as u64;
    let up = len(&packets[0].1) + len(&packets[2].1) + len(&second) + len(&packets[6].1);
    let down = len(&packets[1].1) + len(&packets[5].1);
    assert_eq!(
        (r.bytes_up, r.packets_up, r.bytes_down, r.packets_down),
        (up, 4, down, 2)
    );
    let stats = engine.stats();
    assert_eq!((stats.packets, stats.ip_bytes), (6, up + down));
}

#[test]
fn ieee80211_drops_and_cuts_never_panic() {
    let engine = engine();
    let (_, p) = &inner_packets(false)[3];
    // Protected (encrypted), QoS Null, a beacon: not IP, no flow.
    let protected = wlan(true, e::WLAN_PROTECTED, Some(0), p);
    let null = e::wlan_data(e::WLAN_TO_DS, Some(0), &[]);
    let mut null = null;
    null[0] = 0xc8;
    let mut beacon = wlan(false, 0, None, p);
    beacon[0] = 0x80;
    for frame in [&protected, &null, &beacon] {
        assert_eq!(
            engine.process_packet(LinkType::Ieee80211, frame, 1, None),
            Verdict::Allow
        );
    }
    // Protected in Aruba's GRE too.
    engine.process_packet(
        LinkType::Ethernet,
        &aruba(true, 0x8200, &protected),
        1,
        None,
    );
    // An A-MSDU whose only subframe is ARP.
    let arp = e::llc_snap(0x0806, &[0; 28]);
    let mut body = vec![0x0a; 12];
    body.extend_from_slice(&(arp.len() as u16).to_be_bytes());
    body.extend_from_slice(&arp);
    let only_arp = e::wlan_data(0, Some(e::WLAN_QOS_AMSDU), &body);
    engine.process_packet(LinkType::Ieee80211, &only_arp, 1, None);
    let stats = engine.stats();
    assert_eq!((stats.drop_not_ip, stats.flows_created), (5, 0));
    // Every cut of every framing: counted, allowed, never a panic; a cut inside the 802.11
    // header (24 bytes, QoS 2) and LLC/SNAP (8) is the link layer's.
    let amsdu = e::wlan_data(0, Some(e::WLAN_QOS_AMSDU), &e::amsdu(&[p, p]));
    // (link type, frame, cuts that are drop_link_truncated, cuts that are drop_encap_malformed)
    let frames = [
        (LinkType::Ieee80211, wlan(true, 0, Some(0), p), 26 + 8, 0),
        (LinkType::Ieee80211, amsdu.clone(), 26 + 14 + 8, 0),
        // The radiotap header (26 bytes), then its FCS flag takes the last 4 bytes.
        (
            LinkType::Ieee80211Radiotap,
            e::radiotap(true, true, &amsdu),
            26 + 4 + 26 + 14 + 8,
            0,
        ),
        (LinkType::Ieee80211Prism, e::prism(&amsdu), 144 + 48, 0),
        (LinkType::Ieee80211Avs, e::avs(&amsdu), 64 + 48, 0),
        // Ethernet (14), the outer IPv4 header (malformed IP), then GRE and what it carries.
        (LinkType::Ethernet, aruba(true, 0x8200, &amsdu), 14, 4 + 48),
    ];
    for (link, frame, truncated, malformed) in &frames {
        let cuts = self::engine();
        for len in 0..=frame.len() {
            // Cuts past the headers read part of the ClientHello, or all of it (then the flow
            // is blocked).
            cuts.process_packet(*link, &frame[..len], 1, None);
        }
        let stats = cuts.stats();
        assert_eq!(stats.packets, frame.len() as u64 + 1);
        assert_eq!(
            (stats.drop_link_truncated, stats.drop_encap_malformed),
            (*truncated, *malformed),
            "{link:?}"
        );
        assert_eq!(stats.flows_created, 1);
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

/// GTP-U, VXLAN, GRE and IP-in-IP datagrams that the tunnel's own IP layer fragmented (a
/// 1500-byte user packet plus its tunnel headers over a 1500-byte path; ERSPAN mirroring a GRO
/// super-packet), fragments in any order: each datagram is reassembled, then decapsulated like a
/// whole one; the inner flow is named and counts, as Wireshark does, each fragment before the
/// completing one by its own IP length and the completing one by the inner packet's, as many
/// packets as fragments came; no flow of the tunnel endpoints.
#[test]
fn fragmented_tunnel_datagrams_are_decapsulated_after_reassembly() {
    type Tunnel = fn(bool, &[u8]) -> Vec<u8>;
    let tunnels: [(&str, Tunnel); 4] = [
        ("gtp-u", |up, p| {
            outer_udp(up, (2152, 2152), &e::gtp_u(7, None, &[], p))
        }),
        ("vxlan", |up, p| {
            let ports = if up { (51000, 4789) } else { (62000, 4789) };
            outer_udp(up, ports, &e::vxlan(9, &ethernet(&[], ether_type_of(p), p)))
        }),
        ("gre", |up, p| {
            outer(
                false,
                up,
                47,
                &e::gre(false, Some(5), None, ether_type_of(p), p),
            )
        }),
        ("ip in ip", |up, p| outer(false, up, 4, p)),
    ];
    for (what, tunnel) in tunnels {
        let engine = engine();
        let packets = inner_packets(false);
        let mut fragments = 0u64;
        let mut reassembled = 0u64;
        let mut packets_up = 0u64;
        let mut packets_down = 0u64;
        let (mut bytes_up, mut bytes_down) = (0u64, 0u64);
        let mut ts = 1_000_000_000;
        for (i, (up, p)) in packets.iter().enumerate() {
            let datagram = tunnel(*up, p);
            let mut pieces = fragment(&datagram, 128, 0x7700 + i as u32);
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
            // The pieces before the last one to arrive by their own lengths, that one by the
            // inner packet's.
            let before: usize = pieces[..pieces.len() - 1].iter().map(Vec::len).sum();
            *if *up { &mut bytes_up } else { &mut bytes_down } += (before + p.len()) as u64;
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
