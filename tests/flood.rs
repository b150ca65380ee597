//! Floods (hostile networks): memory stays bounded, evictions and drops are counted, and a few
//! legitimate flows interleaved with the flood keep exact byte and packet counts.
//!
//! Slow (each test up to about a minute in release), so ignored by default; CI runs them with
//! `cargo test --release --test flood -- --ignored --test-threads=1` (one at a time, so that each
//! test's peak RSS is its own: the peak is reset through /proc/self/clear_refs at its start).
//! Each test prints its figures (packets, time, peak RSS, evictions, drops) on stderr.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use cloudsight::{ActivityRecord, Config, Engine, LinkType, Reason, Stats};
use cloudsight_testkit::memory::{peak_rss_kib, reset_peak_rss, rss_kib};
use cloudsight_testkit::packet::{ipv4, ACK, FIN_ACK, LINK_TYPES, PSH_ACK, SYN};
use cloudsight_testkit::{dns, sample, tls};

const US: u64 = 1_000;
const T0: u64 = 1_700_000_000_000_000_000;

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The client side and server side of a legitimate TLS connection, and what the engine must count.
struct Legit {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    script: Vec<(bool, Vec<u8>)>,
    step: usize,
    bytes: [u64; 2],
    packets: [u64; 2],
}

/// Legitimate flows: each a TLS connection to app.slack.com (SYN, SYN-ACK, ACK, ClientHello),
/// then data both ways for as long as the flood lasts.
struct LegitSet {
    flows: Vec<Legit>,
    next: usize,
    index: HashMap<(IpAddr, u16, IpAddr, u16), usize>,
}

impl LegitSet {
    fn new(n: usize) -> LegitSet {
        let mut flows = Vec::new();
        let mut index = HashMap::new();
        for i in 0..n {
            let client = ([192, 168, 77, 1 + i as u8], 50_000 + i as u16);
            let server = ([52, 1, 1, 1 + (i % 4) as u8], 443);
            let hello = sample::client_hello("app.slack.com", &["h2"], i as u8);
            let up = |flags, seq, p: &[u8]| {
                (
                    true,
                    ipv4(
                        client.0,
                        client.1,
                        server.0,
                        server.1,
                        Some((flags, seq)),
                        p,
                    ),
                )
            };
            let down = |flags, seq, p: &[u8]| {
                (
                    false,
                    ipv4(
                        server.0,
                        server.1,
                        client.0,
                        client.1,
                        Some((flags, seq)),
                        p,
                    ),
                )
            };
            let script = vec![
                up(SYN, 1000, &[]),
                down(SYN | ACK, 5000, &[]),
                up(ACK, 1001, &[]),
                up(PSH_ACK, 1001, &hello),
                down(ACK, 5001, &[0x17; 1400]),
                up(ACK, 1001 + hello.len() as u32, &[]),
            ];
            index.insert(
                (
                    IpAddr::from(client.0),
                    client.1,
                    IpAddr::from(server.0),
                    server.1,
                ),
                i,
            );
            flows.push(Legit {
                client,
                server,
                script,
                step: 0,
                bytes: [0; 2],
                packets: [0; 2],
            });
        }
        LegitSet {
            flows,
            next: 0,
            index,
        }
    }

    /// Send the next packet of the next legitimate flow.
    fn send(&mut self, engine: &Engine, ts: u64) {
        let n = self.flows.len();
        let f = &mut self.flows[self.next % n];
        self.next += 1;
        // After the handshake and the hello, the last two packets (data down, ACK up) repeat.
        let i = if f.step < f.script.len() {
            f.step
        } else {
            f.script.len() - 2 + (f.step - f.script.len()) % 2
        };
        f.step += 1;
        let (up, frame) = &f.script[i];
        engine.process_packet(LinkType::Raw, frame, ts, None);
        let side = usize::from(!*up);
        f.bytes[side] += frame.len() as u64;
        f.packets[side] += 1;
    }

    fn finish(&mut self, engine: &Engine) {
        for f in &mut self.flows {
            // FINs both ways end each connection.
            for (up, frame) in [
                (
                    true,
                    ipv4(
                        f.client.0,
                        f.client.1,
                        f.server.0,
                        f.server.1,
                        Some((FIN_ACK, 9)),
                        &[],
                    ),
                ),
                (
                    false,
                    ipv4(
                        f.server.0,
                        f.server.1,
                        f.client.0,
                        f.client.1,
                        Some((FIN_ACK, 9)),
                        &[],
                    ),
                ),
            ] {
                engine.process_packet(LinkType::Raw, &frame, T0, None);
                let side = usize::from(!up);
                f.bytes[side] += frame.len() as u64;
                f.packets[side] += 1;
            }
        }
    }
}

/// What the drained records add up to.
#[derive(Default)]
struct Tally {
    records: u64,
    evicted: u64,
    legit_bytes: HashMap<usize, [u64; 4]>,
    legit_evicted: u64,
    legit_named: u64,
    legit_records: u64,
    /// Records of other flows whose name ends with `.maximal.example` (the maximal-hello flood).
    maximal_named: u64,
    /// Longest ALPN list and server name of any record.
    alpn_max: usize,
    name_max: usize,
}

impl Tally {
    fn take(&mut self, legit: &LegitSet, r: &ActivityRecord) {
        self.records += 1;
        if r.reason == Some(Reason::Evicted) {
            self.evicted += 1;
        }
        self.alpn_max = self.alpn_max.max(r.alpn.len());
        self.name_max = self
            .name_max
            .max(r.server_name.as_ref().map_or(0, String::len));
        if r.server_name
            .as_deref()
            .is_some_and(|n| n.ends_with(".maximal.example"))
        {
            self.maximal_named += 1;
        }
        if let Some(&i) = legit
            .index
            .get(&(r.client_ip, r.client_port, r.server_ip, r.server_port))
        {
            self.legit_records += 1;
            let c = self.legit_bytes.entry(i).or_default();
            c[0] += r.bytes_up;
            c[1] += r.bytes_down;
            c[2] += r.packets_up;
            c[3] += r.packets_down;
            if r.reason == Some(Reason::Evicted) {
                self.legit_evicted += 1;
            }
            if r.server_name.as_deref() == Some("app.slack.com") {
                self.legit_named += 1;
            }
        }
    }

    fn drain(&mut self, engine: &Engine, legit: &LegitSet) {
        engine.drain_with(|r| {
            self.take(legit, r);
            true
        });
    }
}

struct Report {
    name: &'static str,
    packets: u64,
    start: Instant,
    rss_cap_mib: u64,
}

impl Report {
    fn start(name: &'static str, rss_cap_mib: u64) -> Report {
        assert!(
            rss_kib() > 0,
            "{name}: resident memory cannot be read (/proc/self/status), so the RSS cap cannot be checked"
        );
        reset_peak_rss();
        Report {
            name,
            packets: 0,
            start: Instant::now(),
            rss_cap_mib,
        }
    }

    /// Check the common invariants, print the figures, check the legitimate flows.
    fn finish(
        &self,
        engine: &Engine,
        legit: &mut LegitSet,
        tally: &mut Tally,
        before_flush: Stats,
    ) {
        legit.finish(engine);
        engine.flush(T0);
        tally.drain(engine, legit);
        let s = engine.stats();
        let secs = self.start.elapsed().as_secs_f64();
        let peak_kib = peak_rss_kib();
        assert!(peak_kib > 0, "{}: peak RSS cannot be read", self.name);
        let peak_mib = peak_kib / 1024;
        eprintln!(
            "flood {}: {} packets in {:.1} s ({:.2} Mpps), peak RSS {} MiB (cap {} MiB), flows created {}, \
             evicted {} (legit {}), peak {} / capacity {}, records {} dropped {}, inspect skipped {}, \
             inspect memory after flush {}, dns cache {}, drops: link {} ip {} transport {} other {} not-ip {}",
            self.name,
            self.packets,
            secs,
            self.packets as f64 / secs / 1e6,
            peak_mib,
            self.rss_cap_mib,
            s.flows_created,
            s.flows_evicted,
            tally.legit_evicted,
            s.flows_peak,
            s.flow_capacity,
            s.records,
            s.records_dropped,
            s.inspect_skipped,
            s.inspect_memory,
            s.dns_cache_entries,
            s.drop_link_truncated,
            s.drop_ip_malformed,
            s.drop_transport_malformed,
            s.drop_other_protocol,
            s.drop_not_ip,
        );
        assert!(
            peak_mib <= self.rss_cap_mib,
            "{}: peak RSS {peak_mib} MiB over {} MiB",
            self.name,
            self.rss_cap_mib
        );
        assert!(before_flush.flows_peak <= before_flush.flow_capacity);
        assert_eq!(
            s.records_dropped, 0,
            "the test drains often enough that no record is dropped"
        );
        assert_eq!(
            s.records, tally.records,
            "every record produced was drained"
        );
        assert_eq!(
            s.flows_evicted, tally.evicted,
            "every eviction made an evicted record"
        );
        assert_eq!(s.inspect_memory, 0, "inspection memory left after flush");
        assert_eq!(
            tally.legit_evicted, 0,
            "{}: a legitimate flow was evicted",
            self.name
        );
        assert!(tally.legit_records > 0);
        assert_eq!(
            tally.legit_named, tally.legit_records,
            "{}: every record of a legitimate flow names app.slack.com",
            self.name
        );
        assert_eq!(s.flows_active, 0);
        // Exact counts for the legitimate flows, over all their records (evicted ones included).
        for (i, f) in legit.flows.iter().enumerate() {
            let got = tally.legit_bytes.get(&i).copied().unwrap_or_default();
            assert_eq!(
                got,
                [f.bytes[0], f.bytes[1], f.packets[0], f.packets[1]],
                "{}: legitimate flow {i} miscounted",
                self.name
            );
        }
    }
}

fn check_bounds(engine: &Engine, config: &Config) -> Stats {
    let s = engine.stats();
    assert!(s.flows_active <= s.flow_capacity, "{s:?}");
    assert!(
        s.dns_cache_entries <= config.dns_cache_entries as u64,
        "DNS cache over its bound: {s:?}"
    );
    assert!(
        s.records_queued <= config.queue_capacity as u64 + 1,
        "{s:?}"
    );
    s
}

const DRAIN_EVERY: u64 = 4096;
const LEGIT_EVERY: u64 = 64;

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_random_tuples_and_garbage_10m() {
    // The queue holds a drain interval's records plus the final flush of a full table.
    let config = Config {
        max_flows: 50_000,
        queue_capacity: 65_536,
        ..Config::default()
    };
    let engine = Engine::new(config.clone()).unwrap();
    let mut report = // Peak measured 49-56 MiB (release, shared 2-core machine); cap 1.5x.
    Report::start("random tuples + garbage", 84);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let links = LINK_TYPES;
    let mut udp = ipv4([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, None, &[0; 64]);
    let mut tcp = ipv4([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, Some((0, 0)), &[0; 64]);
    let mut garbage = vec![0u8; 1600];
    let mut ts = T0;
    let mut last = engine.stats();
    for i in 0..10_000_000u64 {
        ts += US;
        let r = rng.next();
        match r % 4 {
            // Random garbage on a random link type.
            0 => {
                let len = (r >> 8) as usize % garbage.len();
                for chunk in garbage[..len].chunks_mut(8) {
                    let x = rng.next().to_le_bytes();
                    chunk.copy_from_slice(&x[..chunk.len()]);
                }
                // Half the time make it look like IPv4 so the IP and transport parsers see it.
                if r & 0x100 != 0 && len > 0 {
                    garbage[0] = 0x45;
                }
                engine.process_packet(
                    links[(r >> 32) as usize % links.len()],
                    &garbage[..len],
                    ts,
                    None,
                );
            }
            // Random 5-tuples, random TCP flags, random payload bytes.
            1 | 2 => {
                let frame = if r % 4 == 1 { &mut udp } else { &mut tcp };
                let a = rng.next().to_le_bytes();
                frame[12..20].copy_from_slice(&a);
                let p = rng.next().to_le_bytes();
                frame[20..24].copy_from_slice(&p[..4]);
                if frame[9] == 6 {
                    frame[33] = p[4];
                    frame[24..28].copy_from_slice(&p[4..8]);
                }
                let x = rng.next().to_le_bytes();
                let n = frame.len();
                frame[n - 8..].copy_from_slice(&x);
                engine.process_packet(LinkType::Raw, frame, ts, None);
            }
            // Random tuples between a few hosts and ports: flows repeat (and restart on SYNs).
            _ => {
                let frame = &mut tcp;
                frame[15] = (r >> 8) as u8 & 7;
                frame[19] = (r >> 16) as u8 & 7;
                frame[20..24].copy_from_slice(&[(r >> 24) as u8 & 1, 1, 1, (r >> 32) as u8 & 3]);
                frame[33] = (r >> 40) as u8;
                engine.process_packet(LinkType::Raw, frame, ts, None);
            }
        }
        report.packets += 1;
        if i % LEGIT_EVERY == 0 {
            legit.send(&engine, ts);
            report.packets += 1;
        }
        if i % DRAIN_EVERY == 0 {
            tally.drain(&engine, &legit);
            last = check_bounds(&engine, &config);
        }
    }
    report.finish(&engine, &mut legit, &mut tally, last);
    let s = engine.stats();
    assert!(
        s.flows_evicted > 1_000_000,
        "the flood overflowed the table: {s:?}"
    );
    assert!(
        s.drop_link_truncated + s.drop_ip_malformed + s.drop_not_ip > 1_000_000,
        "{s:?}"
    );
}

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_syn() {
    let config = Config {
        max_flows: 20_000,
        queue_capacity: 32_768,
        ..Config::default()
    };
    let engine = Engine::new(config.clone()).unwrap();
    let mut report = // Peak measured 25-28 MiB; cap 1.5x.
    Report::start("SYN flood", 42);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    let mut rng = Rng(42);
    let mut syn = ipv4([1, 2, 3, 4], 1, [52, 1, 1, 1], 443, Some((SYN, 0)), &[]);
    let mut ts = T0;
    let mut last = engine.stats();
    for i in 0..5_000_000u64 {
        ts += US / 2;
        let r = rng.next().to_le_bytes();
        syn[12..16].copy_from_slice(&r[..4]);
        syn[20..22].copy_from_slice(&r[4..6]);
        syn[24..28].copy_from_slice(&r[..4]);
        engine.process_packet(LinkType::Raw, &syn, ts, None);
        report.packets += 1;
        if i % LEGIT_EVERY == 0 {
            legit.send(&engine, ts);
            report.packets += 1;
        }
        if i % DRAIN_EVERY == 0 {
            tally.drain(&engine, &legit);
            last = check_bounds(&engine, &config);
        }
    }
    report.finish(&engine, &mut legit, &mut tally, last);
    assert!(engine.stats().flows_evicted > 4_000_000);
}

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_quic_initials() {
    let initial = include_bytes!("../src/inspect/testdata/aioquic_v1_0.bin");
    let config = Config {
        max_flows: 20_000,
        queue_capacity: 32_768,
        max_inspect_bytes: 4 << 20,
        ..Config::default()
    };
    let engine = Engine::new(config.clone()).unwrap();
    let mut report = // Peak measured 29-32 MiB; cap 1.5x.
    Report::start("QUIC Initial flood", 48);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    let mut rng = Rng(7);
    let mut frame = ipv4([1, 2, 3, 4], 1, [142, 250, 1, 1], 443, None, initial);
    let mut ts = T0;
    let mut last = engine.stats();
    let mut max_inspect = 0;
    for i in 0..600_000u64 {
        ts += 2 * US;
        let r = rng.next().to_le_bytes();
        // Mostly new flows; one in four repeats a flow among a few hundred (several Initials
        // per flow, each with another DCID, up to the inspection budget).
        if r[7] & 3 == 0 {
            frame[12..16].copy_from_slice(&[10, 9, r[0] & 1, r[1]]);
            frame[20..22].copy_from_slice(&[0xc0, 0]);
        } else {
            frame[12..16].copy_from_slice(&r[..4]);
            frame[20..22].copy_from_slice(&r[4..6]);
        }
        // The DCID (8 bytes at UDP payload offset 6): other keys, so the AEAD check fails,
        // except now and then when the original DCID is kept and the Initial decrypts.
        if r[6] & 15 != 0 {
            let d = rng.next().to_le_bytes();
            frame[28 + 6..28 + 14].copy_from_slice(&d);
        } else {
            frame[28 + 6..28 + 14].copy_from_slice(&initial[6..14]);
        }
        engine.process_packet(LinkType::Raw, &frame, ts, None);
        report.packets += 1;
        if i % LEGIT_EVERY == 0 {
            legit.send(&engine, ts);
            report.packets += 1;
        }
        if i % 256 == 0 {
            let s = engine.stats();
            // The cap may be passed by the one payload that crosses it (that flow then stops
            // being inspected): one flow's QUIC state at most.
            max_inspect = max_inspect.max(s.inspect_memory);
            assert!(s.inspect_memory <= config.max_inspect_bytes as u64 + 64 * 1024);
        }
        if i % DRAIN_EVERY == 0 {
            tally.drain(&engine, &legit);
            last = check_bounds(&engine, &config);
        }
    }
    eprintln!(
        "flood QUIC: inspect memory peak {max_inspect} of {}",
        config.max_inspect_bytes
    );
    report.finish(&engine, &mut legit, &mut tally, last);
}

/// A DNS response with `n` A records for `name` (TTL 3600), addresses from `rng`.
fn dns_response(id: u16, name: &str, n: usize, rng: &mut Rng) -> Vec<u8> {
    let addrs: Vec<[u8; 4]> = (0..n).map(|_| (rng.next() as u32).to_be_bytes()).collect();
    dns::response_many(id, name, &addrs, 3600)
}

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_dns_answers() {
    let config = Config {
        max_flows: 20_000,
        queue_capacity: 32_768,
        dns_cache_entries: 10_000,
        ..Config::default()
    };
    let engine = Engine::new(config.clone()).unwrap();
    let mut report = // Peak measured 9 MiB (it runs first: no earlier test's freed memory in the RSS); cap 1.5x.
    Report::start("DNS answer flood", 14);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    let mut rng = Rng(99);
    let mut ts = T0;
    let mut last = engine.stats();
    let mut max_cache = 0;
    let names = [
        "a.example.com",
        "cdn-1234567.eu-west-1.example.net",
        "x.y.z.very.long.name.example.org",
    ];
    for i in 0..400_000u64 {
        ts += 5 * US;
        let name = names[i as usize % names.len()];
        let msg = dns_response(i as u16, name, 24, &mut rng);
        // Answers from a resolver to a few client ports (one flow each).
        let frame = ipv4(
            [8, 8, 8, 8],
            53,
            [192, 168, 1, 10],
            40_000 + (i % 64) as u16,
            None,
            &msg,
        );
        engine.process_packet(LinkType::Raw, &frame, ts, None);
        report.packets += 1;
        if i % LEGIT_EVERY == 0 {
            legit.send(&engine, ts);
            report.packets += 1;
        }
        if i % 512 == 0 {
            last = check_bounds(&engine, &config);
            max_cache = max_cache.max(last.dns_cache_entries);
            tally.drain(&engine, &legit);
        }
    }
    let s = check_bounds(&engine, &config);
    eprintln!(
        "flood DNS: {} answers, cache entries max {max_cache} of {}",
        400_000 * 24,
        config.dns_cache_entries
    );
    assert_eq!(
        s.dns_cache_entries, config.dns_cache_entries as u64,
        "the cache fills to its bound"
    );
    report.finish(&engine, &mut legit, &mut tally, last);
}

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_slow_drip_client_hello_100k_flows() {
    const FLOWS: u32 = 100_000;
    let config = Config {
        max_flows: 150_000,
        queue_capacity: 131_072,
        max_inspect_bytes: 1 << 20,
        ..Config::default()
    };
    assert!(config.effective_max_flows() >= FLOWS as usize + 16);
    let engine = Engine::new(config.clone()).unwrap();
    let mut report = // Peak measured 73-85 MiB; cap 1.5x.
    Report::start("slow-drip ClientHello x 100k flows", 128);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    let hello = include_bytes!("../src/inspect/testdata/curl.bin");
    let mut ts = T0;
    let mut last = engine.stats();
    let mut max_inspect = 0;
    let addr = |f: u32| [10, 64 | (f >> 16) as u8, (f >> 8) as u8, f as u8];
    let mut frame = ipv4([0; 4], 40_000, [151, 101, 1, 1], 443, Some((SYN, 999)), &[]);
    // SYN on every flow, then one hello byte per segment per flow, round robin: every flow holds
    // a partial hello at the same time.
    for f in 0..FLOWS {
        ts += US;
        frame[12..16].copy_from_slice(&addr(f));
        engine.process_packet(LinkType::Raw, &frame, ts, None);
        report.packets += 1;
    }
    let mut seg = ipv4(
        [0; 4],
        40_000,
        [151, 101, 1, 1],
        443,
        Some((PSH_ACK, 1000)),
        &[0],
    );
    let mut n = 0u64;
    for (byte, &value) in hello.iter().enumerate().take(30) {
        seg[24..28].copy_from_slice(&(1000 + byte as u32).to_be_bytes());
        seg[40] = value;
        for f in 0..FLOWS {
            ts += US;
            seg[12..16].copy_from_slice(&addr(f));
            engine.process_packet(LinkType::Raw, &seg, ts, None);
            report.packets += 1;
            n += 1;
            if n.is_multiple_of(LEGIT_EVERY) {
                legit.send(&engine, ts);
                report.packets += 1;
            }
            if n.is_multiple_of(1024) {
                let s = engine.stats();
                // The cap may be passed by the one segment that crosses it.
                max_inspect = max_inspect.max(s.inspect_memory);
                assert!(s.inspect_memory <= config.max_inspect_bytes as u64 + 64 * 1024);
            }
            if n.is_multiple_of(DRAIN_EVERY) {
                tally.drain(&engine, &legit);
                last = check_bounds(&engine, &config);
            }
        }
    }
    let s = engine.stats();
    eprintln!(
        "flood slow drip: inspect memory peak {max_inspect} of {}, skipped {}, flows {}",
        config.max_inspect_bytes, s.inspect_skipped, s.flows_active
    );
    assert_eq!(s.flows_evicted, 0);
    report.finish(&engine, &mut legit, &mut tally, last);
}

#[test]
#[ignore = "flood: run with --release -- --ignored"]
fn flood_maximal_client_hellos_20k_flows() {
    const FLOWS: u32 = 20_000;
    // Flows whose hellos are in flight at once (8 KiB of reassembly each, under the 16 MiB cap).
    const BATCH: u32 = 1_000;
    const BUDGET_MIB: u64 = 150;
    let config = Config::default();
    let engine = Engine::new(config.clone()).unwrap();
    let start_kib = rss_kib();
    let mut report = // Peak measured 51 MiB (42 MiB over the start); cap 1.5x.
    Report::start("maximal ClientHello x 20k flows", 77);
    let mut legit = LegitSet::new(16);
    let mut tally = Tally::default();
    // A 4 KiB SNI of 64-byte labels and 500 ALPN protocols: about 8 KiB of hello, 6 segments.
    let label = "a".repeat(63);
    let mut sni = String::new();
    while sni.len() + 64 < 4000 {
        sni.push_str(&label);
        sni.push('.');
    }
    let alpn: Vec<String> = (0..500).map(|i| format!("proto-{i:03}")).collect();
    let alpn: Vec<&str> = alpn.iter().map(String::as_str).collect();
    let addr = |f: u32| [10, 96 | (f >> 16) as u8, (f >> 8) as u8, f as u8];
    let server = [151, 101, 7, 7];
    let mut ts = T0;
    let mut n = 0u64;
    let mut last = engine.stats();
    let mut send = |engine: &Engine,
                    frame: &[u8],
                    ts: u64,
                    report: &mut Report,
                    tally: &mut Tally,
                    legit: &mut LegitSet| {
        engine.process_packet(LinkType::Raw, frame, ts, None);
        report.packets += 1;
        n += 1;
        if n.is_multiple_of(LEGIT_EVERY) {
            legit.send(engine, ts);
            report.packets += 1;
        }
        if n.is_multiple_of(DRAIN_EVERY) {
            tally.drain(engine, legit);
            last = check_bounds(engine, &config);
        }
    };
    for batch in 0..FLOWS / BATCH {
        let flows: Vec<u32> = (batch * BATCH..(batch + 1) * BATCH).collect();
        let hellos: Vec<Vec<u8>> = flows
            .iter()
            .map(|&f| tls::client_hello(&format!("{sni}f{f}.maximal.example"), &alpn, f as u8))
            .collect();
        for &f in &flows {
            ts += US;
            let syn = ipv4(addr(f), 40_000, server, 443, Some((SYN, 999)), &[]);
            send(&engine, &syn, ts, &mut report, &mut tally, &mut legit);
        }
        let segments = hellos[0].len().div_ceil(1400);
        assert!(segments >= 5, "a hello of {} bytes", hellos[0].len());
        for k in 0..segments {
            for (&f, hello) in flows.iter().zip(&hellos) {
                let Some(chunk) = hello.chunks(1400).nth(k) else {
                    continue;
                };
                ts += US;
                let seq = 1000 + (k * 1400) as u32;
                let seg = ipv4(addr(f), 40_000, server, 443, Some((PSH_ACK, seq)), chunk);
                send(&engine, &seg, ts, &mut report, &mut tally, &mut legit);
            }
        }
        for (&f, hello) in flows.iter().zip(&hellos) {
            ts += US;
            let seq = 1000 + hello.len() as u32;
            for frame in [
                ipv4(addr(f), 40_000, server, 443, Some((FIN_ACK, seq)), &[]),
                ipv4(server, 443, addr(f), 40_000, Some((FIN_ACK, 1)), &[]),
            ] {
                send(&engine, &frame, ts, &mut report, &mut tally, &mut legit);
            }
        }
    }
    let s = engine.stats();
    let peak_kib = peak_rss_kib();
    assert!(peak_kib > 0 && start_kib > 0, "RSS cannot be read");
    let growth_mib = peak_kib.saturating_sub(start_kib) / 1024;
    eprintln!(
        "flood maximal hellos: RSS at start {} MiB, peak {} MiB, growth {growth_mib} MiB (budget {BUDGET_MIB}), \
         alpn cut {}, names cut {}, inspect skipped {}, queue bytes {}",
        start_kib / 1024,
        peak_kib / 1024,
        s.alpn_cut,
        s.names_cut,
        s.inspect_skipped,
        s.records_queued_bytes,
    );
    assert!(
        growth_mib <= BUDGET_MIB,
        "RSS grew {growth_mib} MiB, over {BUDGET_MIB} MiB"
    );
    assert_eq!(s.inspect_skipped, 0);
    assert_eq!(
        s.alpn_cut,
        u64::from(FLOWS),
        "every flow's ALPN list was cut"
    );
    assert_eq!(s.names_cut, u64::from(FLOWS), "every flow's name was cut");
    report.finish(&engine, &mut legit, &mut tally, last);
    assert_eq!(
        tally.maximal_named,
        u64::from(FLOWS),
        "every flow's record drained, named"
    );
    assert!(
        tally.alpn_max <= 8,
        "ALPN lists of {} protocols",
        tally.alpn_max
    );
    assert!(tally.name_max <= 253);
}
