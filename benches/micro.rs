//! Criterion micro-benchmarks of the hot stages (`cargo bench --bench micro`; filter with
//! `cargo bench --bench micro -- flow_update`). Kept quick: small samples, short measurement.
//!
//! - `parse/*`: link + IP + TCP/UDP slicing of one frame (`cloudsight::internal::packet::parse`);
//!   `parse/ipcomp_inflate_*`: inflating an IPComp payload, a plain one and a bomb.
//! - `flow_update/{1k,100k,1M}`: a packet of a known flow through the whole engine path (parse,
//!   hash lookup in a warm table of that many flows, counters), flows visited in a shuffled
//!   order so the large tables miss the caches as a busy sensor's would.
//! - `client_hello/*`: TLS ClientHello parsing and its JA4.
//! - `quic_initial/rfc9001_a2`: one client Initial from scratch: key derivation from the DCID,
//!   header protection removal, AES-128-GCM decryption, CRYPTO reassembly, ClientHello parse.
//! - `catalog/*`: app lookup, hit, miss and deep subdomain.
//! - `encode/*`: a batch of 64 records as JSON lines and as one bincode batch.

use std::hint::black_box;
use std::time::Duration;

use cloudsight::internal::inspect::tls;
use cloudsight::internal::inspect::{quic::QuicInitial, Progress as QuicProgress};
use cloudsight::{Catalog, Config, Engine, LinkType};
use cloudsight_testkit::encap;
use cloudsight_testkit::packet::{ip, Tcp};
use cloudsight_testkit::sample;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use etherparse::PacketBuilder;

const RFC9001_A2: &[u8] = include_bytes!("../src/inspect/testdata/rfc9001_a2_client_initial.bin");

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
}

/// A TCP frame between client `i` (10.a.b.c:port) and 34.120.1.10:443.
fn tcp_frame(i: u32, from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let port = 40000 + (i % 7) as u16;
    Tcp::new((client, port), ([34, 120, 1, 10], 443))
        .ethernet()
        .up(from_client)
        .frame(flags, payload)
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    let v4 = tcp_frame(1, false, 16, &[0x17; 1400]);
    g.bench_function("ethernet_ipv4_tcp", |b| {
        b.iter(|| cloudsight::internal::packet::parse(LinkType::Ethernet, black_box(&v4)).is_ok())
    });
    let mut v6 = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv6([0x20; 16], [0x26; 16], 64)
        .udp(50000, 443)
        .write(&mut v6, &[0x40; 1200])
        .unwrap();
    g.bench_function("ethernet_ipv6_udp", |b| {
        b.iter(|| cloudsight::internal::packet::parse(LinkType::Ethernet, black_box(&v6)).is_ok())
    });
    // Tunnels: the same IPv4 TCP packet in PPPoE over QinQ, and in VXLAN in Ethernet.
    let inner = Tcp::new(([10, 0, 0, 1], 40000), ([34, 120, 1, 10], 443)).frame(16, &[0x17; 1400]);
    let tags = [(encap::ETHERTYPE_QINQ, 100), (encap::ETHERTYPE_VLAN, 200)];
    let pppoe = encap::ethernet(
        &tags,
        encap::ETHERTYPE_PPPOE_SESSION,
        &encap::pppoe_session(encap::PPP_IPV4, &inner),
    );
    g.bench_function("ethernet_qinq_pppoe_ipv4_tcp", |b| {
        b.iter(|| {
            cloudsight::internal::packet::parse(LinkType::Ethernet, black_box(&pppoe)).is_ok()
        })
    });
    let udp = ip(
        false,
        ("192.0.2.1".parse().unwrap(), 50000),
        ("192.0.2.2".parse().unwrap(), 4789),
        0,
        0,
        &encap::vxlan(42, &encap::ethernet(&[], encap::ETHERTYPE_IPV4, &inner)),
    );
    let vxlan = encap::ethernet(&[], encap::ETHERTYPE_IPV4, &udp);
    g.bench_function("ethernet_vxlan_ipv4_tcp", |b| {
        b.iter(|| {
            cloudsight::internal::packet::parse(LinkType::Ethernet, black_box(&vxlan)).is_ok()
        })
    });
    // IPComp: inflating a compressed 1,400-byte HTTP-like payload, and a bomb (84 bytes that
    // would inflate to 70,000, stopped at the 65,535-byte cap): what one such packet costs.
    let mut text = Vec::new();
    for i in 0..100 {
        text.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: h{i}.example\r\n").as_bytes());
    }
    text.truncate(1400);
    let plain = encap::ipcomp(4, 2, &text);
    let bomb = encap::ipcomp(4, 2, &vec![0; 70_000]);
    g.bench_function("ipcomp_inflate_1400", |b| {
        b.iter(|| cloudsight::internal::packet::inflate(black_box(&plain[4..])).is_some())
    });
    g.bench_function("ipcomp_inflate_bomb", |b| {
        b.iter(|| cloudsight::internal::packet::inflate(black_box(&bomb[4..])).is_none())
    });
    g.finish();
}

/// xorshift permutation of 0..n (deterministic).
fn shuffled(n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

fn flow_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_update");
    g.throughput(Throughput::Elements(1));
    for (label, n) in [("1k", 1_000u32), ("100k", 100_000), ("1M", 1_000_000)] {
        let engine = Engine::new(Config {
            max_flows: 2_000_000,
            max_table_bytes: 4 << 30,
            ..Config::default()
        })
        .unwrap();
        // Fill: one ACK from each client makes its flow (no payload: nothing to inspect).
        let frames: Vec<Vec<u8>> = (0..n).map(|i| tcp_frame(i, true, 16, &[])).collect();
        let mut ts = 1_000_000_000u64;
        for f in &frames {
            ts += 1;
            engine.process_packet(LinkType::Ethernet, f, ts, None);
        }
        assert_eq!(engine.stats().flows_active, u64::from(n));
        let order = shuffled(n as usize);
        let mut at = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                at = if at + 1 == order.len() { 0 } else { at + 1 };
                ts += 1;
                let frame = &frames[order[at] as usize];
                engine.process_packet(LinkType::Ethernet, black_box(frame), ts, None)
            })
        });
        assert_eq!(
            engine.stats().flows_created,
            u64::from(n),
            "no new flows while timed"
        );
    }
    g.finish();
}

fn client_hello(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_hello");
    let record = sample::client_hello("app.slack.com", &["h2", "http/1.1"], 1);
    let handshake = record[5..].to_vec();
    g.bench_function("parse_sample", |b| {
        b.iter(|| tls::parse_client_hello(black_box(&handshake)).is_ok())
    });
    // A real browser-like hello: the one inside the RFC 9001 A.2 Initial.
    let mut q = QuicInitial::new();
    assert_eq!(q.push_datagram(RFC9001_A2), QuicProgress::Complete);
    let rfc_hello = q.hello().unwrap().to_vec();
    g.bench_function("parse_rfc9001_a2", |b| {
        b.iter(|| tls::parse_client_hello(black_box(&rfc_hello)).is_ok())
    });
    let parsed = tls::parse_client_hello(&handshake).unwrap();
    g.bench_function("ja4_sample", |b| {
        b.iter(|| tls::ja4(black_box(&parsed), b't'))
    });
    g.finish();
}

fn quic_initial(c: &mut Criterion) {
    let mut g = c.benchmark_group("quic_initial");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rfc9001_a2_derive_decrypt_parse", |b| {
        b.iter(|| {
            let mut q = QuicInitial::new();
            let progress = q.push_datagram(black_box(RFC9001_A2));
            debug_assert_eq!(progress, QuicProgress::Complete);
            let hello = tls::parse_client_hello(q.hello().unwrap()).unwrap();
            black_box(hello.sni.map(|s| s.len()))
        })
    });
    g.finish();
}

fn catalog(c: &mut Criterion) {
    let mut g = c.benchmark_group("catalog");
    let catalog = Catalog::embedded();
    for (what, host) in [
        ("hit", "app.slack.com"),
        ("miss", "unknown.example.org"),
        ("deep_subdomain_hit", "a.b.c.d.e.f.files.dropbox.com"),
    ] {
        g.bench_function(what, |b| {
            b.iter(|| catalog.lookup(black_box(host.as_bytes())).is_some())
        });
    }
    g.finish();
}

/// 64 real records: TLS flows to a few catalog apps, made by an engine and flushed.
fn records() -> Vec<cloudsight::ActivityRecord> {
    let engine = Engine::new(Config::default()).unwrap();
    let names = [
        "app.slack.com",
        "www.dropbox.com",
        "teams.microsoft.com",
        "x.example.org",
    ];
    for i in 0..64u32 {
        let hello = sample::client_hello(names[i as usize % names.len()], &["h2"], i as u8);
        let ts = 1_700_000_000_000_000_000 + u64::from(i) * 1000;
        engine.process_packet(LinkType::Ethernet, &tcp_frame(i, true, 2, &[]), ts, None);
        engine.process_packet(
            LinkType::Ethernet,
            &tcp_frame(i, false, 18, &[]),
            ts + 1,
            None,
        );
        engine.process_packet(
            LinkType::Ethernet,
            &tcp_frame(i, true, 16, &hello),
            ts + 2,
            None,
        );
        engine.process_packet(
            LinkType::Ethernet,
            &tcp_frame(i, false, 16, &[0; 900]),
            ts + 3,
            None,
        );
    }
    engine.flush(1_800_000_000_000_000_000);
    let r = engine.drain(usize::MAX);
    assert_eq!(r.len(), 64);
    r
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let records = records();
    g.throughput(Throughput::Elements(records.len() as u64));
    let mut buf = Vec::with_capacity(1 << 16);
    let device = cloudsight::Device {
        id: "bench".into(),
        name: "bench-host".into(),
    };
    g.bench_function("json_lines_64", |b| {
        b.iter(|| {
            buf.clear();
            for r in &records {
                cloudsight::encode::write_json_line(&device, black_box(r), &mut buf);
            }
            buf.len()
        })
    });
    g.bench_function("bincode_batch_64", |b| {
        b.iter(|| cloudsight::encode::encode_batch(&device, black_box(&records)).len())
    });
    let batch = cloudsight::encode::encode_batch(&device, &records);
    g.bench_function("bincode_decode_64", |b| {
        b.iter_batched(
            || batch.clone(),
            |bytes| cloudsight::decode_batch(&bytes).map(|(_, r)| r.len()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, flow_update, client_hello, quic_initial, catalog, encode
}
criterion_main!(benches);
