//! Differential: the flow table against a HashMap model. UDP and TCP packets (any flags, any
//! payload, time jumping forwards and backwards) over a few 5-tuples, so that flows repeat, end
//! (FIN, RST) and restart (SYN on an ended connection), in one engine with room for every flow
//! and every record and no tick. After a flush, for every canonical key and sending side, the sum
//! of the records' bytes and packets equals the model's sum of IP lengths and packet count.
#![no_main]
use std::collections::HashMap;
use std::net::IpAddr;

use cloudsight::{Config, Engine, LinkType, Transport};
// A raw IP frame (checksums zero: the engine does not verify them).
use cloudsight_testkit::packet::ip as build;
use libfuzzer_sys::fuzz_target;

/// Endpoints: IPv4 and IPv6, client-ish and server ports, one address twice with two ports.
const ENDPOINTS: [(&str, u16); 8] = [
    ("10.0.0.1", 40000),
    ("10.0.0.1", 443),
    ("34.120.1.9", 443),
    ("8.8.8.8", 53),
    ("10.0.0.2", 8443),
    ("2001:db8::1", 50000),
    ("2001:db8::2", 443),
    ("2001:db8::2", 53),
];

fn endpoint(i: u8) -> (IpAddr, u16) {
    let (ip, port) = ENDPOINTS[usize::from(i) % ENDPOINTS.len()];
    (ip.parse().unwrap(), port)
}

type Key = (bool, (IpAddr, u16), (IpAddr, u16));

fuzz_target!(|data: &[u8]| {
    let engine = Engine::new(Config {
        // Far more than the distinct tuples and records of a 4 KiB input: no eviction, no drop.
        max_flows: 4096,
        queue_capacity: 8192,
        ..Config::default()
    })
    .unwrap();
    // canonical key -> [bytes of a, bytes of b, packets of a, packets of b]
    let mut model: HashMap<Key, [u64; 4]> = HashMap::new();
    let mut ts: u64 = 1_000_000_000;
    let mut rest = data;
    let mut packets = 0u64;
    while let Some((head, tail)) = rest.split_first_chunk::<6>() {
        let [sel, pair, flags, seq_lo, len, dt] = *head;
        let len = usize::from(len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        let tcp = sel & 1 != 0;
        // Endpoints of one family: v4 among the first five, v6 among the last three.
        let (src, dst) = if sel & 2 == 0 {
            (endpoint(pair & 3), endpoint((pair >> 2) % 5))
        } else {
            (endpoint(5 + (pair & 1)), endpoint(5 + (pair >> 1) % 3))
        };
        let frame = build(tcp, src, dst, flags, u32::from(seq_lo) << 8, payload);
        // IPv4 total length, or IPv6 40 + payload length: the whole frame either way.
        let ip_len = frame.len() as u64;
        // Time: small steps forward, sometimes a jump past the active timeout, sometimes back.
        ts = match dt >> 6 {
            0 | 1 => ts + u64::from(dt) * 1_000_000,
            2 => ts + u64::from(dt) * 10_000_000_000,
            _ => ts.saturating_sub(u64::from(dt & 0x3f) * 1_000_000_000),
        };
        engine.process_packet(LinkType::Raw, &frame, ts, None);
        packets += 1;
        let (a, b, side) = if src <= dst {
            (src, dst, 0)
        } else {
            (dst, src, 1)
        };
        let counts = model.entry((tcp, a, b)).or_default();
        counts[side] += ip_len;
        counts[2 + side] += 1;
    }
    engine.flush(ts);
    let stats = engine.stats();
    assert_eq!(stats.packets, packets);
    assert_eq!(stats.flows_evicted, 0);
    assert_eq!(stats.records_dropped, 0);
    assert_eq!(
        stats.inspect_memory, 0,
        "inspection memory left after flush"
    );
    assert_eq!(stats.flows_active, 0);

    let mut seen: HashMap<Key, [u64; 4]> = HashMap::new();
    for r in engine.drain(usize::MAX) {
        let client = (r.client_ip, r.client_port);
        let server = (r.server_ip, r.server_port);
        let tcp = r.protocol == Transport::Tcp;
        let (a, b) = if client <= server {
            (client, server)
        } else {
            (server, client)
        };
        let counts = seen.entry((tcp, a, b)).or_default();
        if client == a {
            counts[0] += r.bytes_up;
            counts[1] += r.bytes_down;
            counts[2] += r.packets_up;
            counts[3] += r.packets_down;
        } else {
            counts[1] += r.bytes_up;
            counts[0] += r.bytes_down;
            counts[3] += r.packets_up;
            counts[2] += r.packets_down;
        }
    }
    // A flow from an endpoint to itself has one side only: compare its totals.
    let fold = |m: &mut HashMap<Key, [u64; 4]>| {
        for ((_, a, b), c) in m.iter_mut() {
            if a == b {
                *c = [c[0] + c[1], 0, c[2] + c[3], 0];
            }
        }
    };
    fold(&mut model);
    fold(&mut seen);
    for (key, want) in &model {
        let got = seen.get(key).copied().unwrap_or_default();
        assert_eq!(
            &got, want,
            "counts of {key:?}: engine {got:?}, model {want:?}"
        );
    }
    for key in seen.keys() {
        assert!(
            model.contains_key(key),
            "records for a flow never sent: {key:?}"
        );
    }
});
