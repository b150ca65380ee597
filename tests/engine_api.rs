//! The engine's Rust API for what sensors (and the C ABI) need beyond packets: catalog changes that
//! compose, sanctions checked against the catalog, drains that may be re-entered from their own
//! callback, names that cannot lie, and process context that is bounded, interned and lossy-safe.

use std::sync::{Arc, Barrier};
use std::thread;

use cloudsight::{Catalog, Config, Engine, Error, Sanction};

fn app_catalog(id: &str, domain: &str) -> Catalog {
    Catalog::from_toml(&format!(
        "schema_version = 1\napps = [ {{ id = \"{id}\", name = \"{id}\", category = \"crm\", domains = [\"{domain}\"] }} ]\n"
    ))
    .unwrap()
}

#[test]
fn extend_catalog_overlays_and_concurrent_extends_all_take_effect() {
    let engine = Arc::new(Engine::new(Config::default()).unwrap());
    let before = engine.catalog().len();
    engine.extend_catalog(&app_catalog("acme", "acme.example"));
    let c = engine.catalog();
    assert_eq!(c.len(), before + 1);
    assert_eq!(c.lookup(b"x.acme.example").unwrap().id, "acme");
    assert!(c.app("dropbox").is_some(), "the embedded apps stay");

    // Two threads extend at the same moment, many times: a read-extend-write that is not atomic
    // loses one of them.
    const ROUNDS: usize = 40;
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|t| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    barrier.wait();
                    let id = format!("{t}{i}");
                    engine.extend_catalog(&app_catalog(&id, &format!("{id}.example")));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let c = engine.catalog();
    for t in ["a", "b"] {
        for i in 0..ROUNDS {
            assert!(c.app(&format!("{t}{i}")).is_some(), "{t}{i} was lost");
        }
    }
    assert_eq!(c.len(), before + 1 + 2 * ROUNDS);
}

#[test]
fn set_app_sanction_refuses_unknown_apps_and_set_domain_sanction_applies() {
    let engine = Engine::new(Config::default()).unwrap();
    assert_eq!(
        engine.set_app_sanction("no-such-app", Sanction::Unsanctioned),
        Err(Error::UnknownApp)
    );
    assert_eq!(engine.policy().app_sanction("no-such-app"), None);
    assert!(Error::UnknownApp.to_string().contains("unknown app"));

    assert_eq!(
        engine.set_app_sanction("dropbox", Sanction::Unsanctioned),
        Ok(())
    );
    assert_eq!(
        engine.policy().app_sanction("dropbox"),
        Some(Sanction::Unsanctioned)
    );
    // An app the catalog gains becomes sanctionable.
    assert_eq!(
        engine.set_app_sanction("acme", Sanction::Monitored),
        Err(Error::UnknownApp)
    );
    engine.extend_catalog(&app_catalog("acme", "acme.example"));
    assert_eq!(engine.set_app_sanction("acme", Sanction::Monitored), Ok(()));

    engine.set_domain_sanction("Evil.Example.", Sanction::Unsanctioned);
    assert_eq!(
        engine.policy().verdict(None, Some("evil.example")),
        cloudsight::Verdict::Block
    );
    assert_eq!(
        engine.policy().app_sanction("dropbox"),
        Some(Sanction::Unsanctioned),
        "other rules stay"
    );
}

// ---- Drains re-entered from their own callback ----

/// Runs `f` on its own thread and fails the test if it has not returned within 20 s (a deadlock
/// fails instead of hanging the suite).
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not return within 20 s: deadlock"),
    }
}

fn udp(src_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
        .udp(src_port, 9999)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An engine holding `n` records in its queue (flows ended by a flush).
fn engine_with_records(n: u16) -> Arc<Engine> {
    let engine = Engine::new(Config::default()).unwrap();
    for i in 0..n {
        engine.process_packet(cloudsight::LinkType::Raw, &udp(20_000 + i, b"x"), 1, None);
    }
    engine.flush(2);
    assert_eq!(engine.stats().records_queued, u64::from(n));
    Arc::new(engine)
}

#[test]
fn stats_from_inside_a_drain_callback() {
    let engine = engine_with_records(5);
    let queued = within_deadline("stats in drain_with", move || {
        let mut seen = Vec::new();
        engine.drain_with(|_| {
            seen.push(engine.stats().records_queued);
            true
        });
        seen
    });
    // The record being delivered has left the queue.
    assert_eq!(queued, [4, 3, 2, 1, 0]);
}

#[test]
fn flush_from_inside_a_drain_callback() {
    // A queue of 2: the flush inside the callback overflows it, so its records are kept beside
    // the queue (the lock a delivering drain must not hold).
    let engine = Arc::new(
        Engine::new(Config {
            queue_capacity: 2,
            ..Config::default()
        })
        .unwrap(),
    );
    for port in [20_000, 20_001] {
        engine.process_packet(cloudsight::LinkType::Raw, &udp(port, b"x"), 1, None);
    }
    engine.flush(2);
    let e = engine.clone();
    let (delivered, ports) = within_deadline("flush in drain_with", move || {
        let mut ports = Vec::new();
        let delivered = e.drain_with(|r| {
            if ports.is_empty() {
                for port in 30_000..30_003 {
                    e.process_packet(cloudsight::LinkType::Raw, &udp(port, b"y"), 3, None);
                }
                e.flush(4);
                assert_eq!(e.stats().records_queued, 4, "2 in the queue, 2 beside it");
            }
            ports.push(r.client_port);
            true
        });
        (delivered, ports)
    });
    // The flows flushed during the drain are delivered by the same drain; nothing lost.
    assert_eq!(delivered, 5, "{ports:?}");
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [20_000, 20_001, 30_000, 30_001, 30_002]);
    assert_eq!(engine.stats().records_queued, 0);
    assert_eq!(engine.stats().records_dropped, 0);
}

#[test]
fn drain_and_drain_with_from_inside_a_drain_callback() {
    let engine = engine_with_records(6);
    let e = engine.clone();
    let (outer, taken, refused) = within_deadline("drain in drain_with", move || {
        let mut taken = Vec::new();
        let mut refused = None;
        let mut calls = 0;
        let outer = e.drain_with(|r| {
            calls += 1;
            match calls {
                1 => taken.extend(e.drain(2).into_iter().map(|r| r.flow_id)),
                2 => {
                    e.drain_with(|r2| {
                        refused = Some(r2.flow_id);
                        false // refused: kept back, first for the next drain
                    });
                }
                _ => {}
            }
            taken.push(r.flow_id);
            true
        });
        (outer, taken, refused)
    });
    // Nothing lost, nothing twice: 6 distinct records, all taken.
    let mut ids = taken.clone();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((taken.len(), ids.len()), (6, 6), "{taken:?}");
    assert_eq!(
        outer, 4,
        "the outer drain took the 4 the first inner drain left"
    );
    // The record the nested drain refused came next, to the outer drain.
    let refused = refused.expect("the nested drain saw a record");
    assert_eq!(taken[4], refused, "{taken:?}");
    assert_eq!(engine.stats().records_queued, 0);
}

#[test]
fn drain_encoded_from_inside_a_drain_callback() {
    let engine = engine_with_records(4);
    let e = engine.clone();
    let (outer, bytes) = within_deadline("drain_encoded in drain_with", move || {
        let mut bytes = 0;
        let mut first = true;
        let outer = e.drain_with(|_| {
            if std::mem::take(&mut first) {
                let mut buf = vec![0u8; 1 << 16];
                bytes = e
                    .drain_encoded(cloudsight::Encoding::JsonLines, &mut buf)
                    .unwrap();
            }
            true
        });
        (outer, bytes)
    });
    assert_eq!(outer, 1);
    assert!(bytes > 0);
    assert_eq!(engine.stats().records_queued, 0);
}

#[test]
fn a_refused_record_comes_first_and_is_counted_as_queued() {
    let engine = engine_with_records(3);
    let mut first = None;
    assert_eq!(
        engine.drain_with(|r| {
            first = Some(r.flow_id);
            false
        }),
        0
    );
    assert_eq!(engine.stats().records_queued, 3);
    let all = engine.drain(10);
    assert_eq!(all.len(), 3);
    assert_eq!(Some(all[0].flow_id), first);
    assert_eq!(engine.stats().records_queued, 0);
}

// ---- Names that cannot lie ----

const SERVER: [u8; 4] = [198, 51, 100, 7];

fn tcp_to(server: [u8; 4], src_port: u16, flags: &str, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut b =
        etherparse::PacketBuilder::ipv4([10, 0, 0, 5], server, 64).tcp(src_port, 443, seq, 1000);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// A TLS connection on `src_port` that says `sni` in its ClientHello; returns the hello's verdict.
fn tls_flow(engine: &Engine, src_port: u16, sni: &str) -> cloudsight::Verdict {
    let raw = cloudsight::LinkType::Raw;
    engine.process_packet(raw, &tcp_to(SERVER, src_port, "S", 99, &[]), 1, None);
    let hello = cloudsight_testkit::tls::client_hello(sni, &["h2"], 7);
    engine.process_packet(raw, &tcp_to(SERVER, src_port, "A", 100, &hello), 2, None)
}

#[test]
fn a_nul_in_the_sni_is_shown_escaped_and_the_policy_sees_the_real_domain() {
    let engine = Engine::new(Config::default()).unwrap();
    engine
        .set_app_sanction("google-search", Sanction::Unsanctioned)
        .unwrap();
    let lying = "www.google.com\0.evil.net";
    assert_eq!(
        tls_flow(&engine, 40_000, "www.google.com"),
        cloudsight::Verdict::Block
    );
    assert_eq!(
        tls_flow(&engine, 40_001, lying),
        cloudsight::Verdict::Allow,
        "the Google rule does not apply to evil.net"
    );
    engine.set_domain_sanction("evil.net", Sanction::Unsanctioned);
    assert_eq!(tls_flow(&engine, 40_002, lying), cloudsight::Verdict::Block);
    assert_eq!(engine.stats().names_escaped, 2);
    assert_eq!(engine.stats().names_cut, 0);

    engine.flush(3);
    let records = engine.drain(10);
    let r = records.iter().find(|r| r.client_port == 40_002).unwrap();
    assert_eq!(
        r.server_name.as_deref(),
        Some("www.google.com\\x00.evil.net")
    );
    assert_eq!(r.registrable_domain.as_deref(), Some("evil.net"));
    assert!(r.app.is_none());
    let google = records.iter().find(|r| r.client_port == 40_000).unwrap();
    assert_eq!(google.app.as_ref().unwrap().id, "google-search");
}

#[test]
fn an_mdns_query_with_several_questions_and_known_answers_makes_its_sender_the_client() {
    // mDNS queries ask several questions and list the answers they know (RFC 6762 §5.3, §7.1):
    // still a query, so its sender is the client, whatever responses to the group follow. A flow
    // of responses alone has the group as its client (the receiver of a response, as Wireshark
    // has it).
    let engine = Engine::new(Config::default()).unwrap();
    let mut query = cloudsight_testkit::dns::response(0, "printer.local", [10, 0, 2, 7], 120);
    query[2] = 0; // QR=0: a query with its known answer
    query[3] = 0;
    query[5] = 2; // and two questions (the second is not read)
    let answer = cloudsight_testkit::dns::response(0, "printer.local", [10, 0, 2, 7], 120);
    let host: std::net::IpAddr = [10, 0, 2, 7].into();
    let other: std::net::IpAddr = [10, 0, 2, 8].into();
    let group: std::net::IpAddr = [224, 0, 0, 251].into();
    let send = |from: std::net::IpAddr, msg: &[u8], ts: u64| {
        let frame = cloudsight_testkit::raw::ip(false, (from, 5353), (group, 5353), 0, 0, msg);
        engine.process_packet(cloudsight::LinkType::Raw, &frame, ts, None);
    };
    send(host, &query, 1);
    send(host, &answer, 2);
    send(other, &answer, 3);
    engine.flush(4);
    let records = engine.drain(10);
    assert_eq!(records.len(), 2);
    let of = |ip| {
        records
            .iter()
            .find(|r| r.client_ip == ip || r.server_ip == ip)
            .unwrap()
    };
    let querier = of(host);
    assert_eq!((querier.client_ip, querier.server_ip), (host, group));
    assert_eq!((querier.packets_up, querier.packets_down), (2, 0));
    let announcer = of(other);
    assert_eq!((announcer.client_ip, announcer.server_ip), (group, other));
    assert_eq!((announcer.packets_up, announcer.packets_down), (0, 1));
}

#[test]
fn an_llmnr_response_alone_makes_its_receiver_the_client() {
    // LLMNR (RFC 4795, UDP 5355): the query goes to 224.0.0.252, the answer comes back unicast
    // from the responder's port 5355 to the querier's ephemeral port. A capture holding only the
    // answer still has the querier as the client, as Wireshark has it (the DNS rule, not the
    // first sender).
    let engine = Engine::new(Config::default()).unwrap();
    let answer = cloudsight_testkit::dns::response(9, "fileserver", [10, 0, 2, 7], 30);
    let responder: std::net::IpAddr = [10, 0, 2, 7].into();
    let querier: std::net::IpAddr = [10, 0, 2, 8].into();
    let frame =
        cloudsight_testkit::raw::ip(false, (responder, 5355), (querier, 61000), 0, 0, &answer);
    engine.process_packet(cloudsight::LinkType::Raw, &frame, 1, None);
    engine.flush(2);
    let records = engine.drain(10);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.client_ip, r.client_port), (querier, 61000));
    assert_eq!((r.server_ip, r.server_port), (responder, 5355));
    assert_eq!((r.packets_up, r.packets_down), (0, 1));
    assert_eq!(r.server_name, None, "LLMNR answers name nothing");
    assert_eq!(engine.stats().dns_cache_entries, 0);
}

/// Raw IP `frames` through a new engine, 1 ns apart, then flushed: each flow's (packets up,
/// packets down) in order of first packet, and the flows created.
fn packets_per_flow(frames: &[Vec<u8>]) -> (Vec<(u64, u64)>, u64) {
    let engine = Engine::new(Config::default()).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        engine.process_packet(cloudsight::LinkType::Raw, frame, 1 + i as u64, None);
    }
    engine.flush(frames.len() as u64 + 5);
    let mut records = engine.drain(usize::MAX);
    records.sort_by_key(|r| r.first_seen_ns);
    let counts = records
        .iter()
        .map(|r| (r.packets_up, r.packets_down))
        .collect();
    (counts, engine.stats().flows_created)
}

/// A client (10.0.0.5, `port`) and a server (198.51.100.1, 443).
fn tcp_ends(port: u16) -> ((std::net::IpAddr, u16), (std::net::IpAddr, u16)) {
    (
        ([10, 0, 0, 5].into(), port),
        ([198, 51, 100, 1].into(), 443),
    )
}

#[test]
fn after_the_end_a_syn_with_a_new_isn_starts_a_flow_and_a_retransmitted_one_does_not() {
    use cloudsight::internal::packet::tcp_flags::{ACK, RST, SYN};
    use cloudsight_testkit::raw::ip;
    let (c, s) = tcp_ends(40_000);
    let frames = [
        ip(true, c, s, SYN, 100, &[]),
        ip(true, s, c, SYN | ACK, 7000, &[]),
        ip(true, c, s, RST, 101, &[]),
        // The first SYN again (its retransmission, late): the same connection.
        ip(true, c, s, SYN, 100, &[]),
        // A SYN with another initial sequence number: port reuse, a new flow.
        ip(true, c, s, SYN, 90_000, &[]),
    ];
    assert_eq!(packets_per_flow(&frames), (vec![(3, 1), (1, 0)], 2));
}

/// A capture that starts at the SYN-ACK: the client's initial sequence number is its
/// acknowledgment less one (as Wireshark takes it), so a late retransmission of the unseen SYN
/// after the end stays in the flow, and a SYN with another number still starts the next one.
#[test]
fn without_the_syn_the_syn_acks_acknowledgment_tells_a_retransmitted_syn() {
    use cloudsight::internal::packet::tcp_flags::{ACK, FIN, SYN};
    use cloudsight_testkit::raw::ip;
    let (c, s) = tcp_ends(40_009);
    let mut syn_ack = ip(true, s, c, SYN | ACK, 7000, &[]);
    // IPv4 header (20 bytes), then the TCP acknowledgment number at offset 8: the SYN's 30000 + 1.
    syn_ack[28..32].copy_from_slice(&30_001u32.to_be_bytes());
    let frames = [
        syn_ack,
        ip(true, c, s, ACK, 30_001, &[]),
        ip(true, c, s, FIN | ACK, 30_001, &[]),
        ip(true, s, c, FIN | ACK, 7001, &[]),
        // The unseen SYN, late: the same connection.
        ip(true, c, s, SYN, 30_000, &[]),
        // Another initial sequence number: port reuse, a new flow.
        ip(true, c, s, SYN, 90_000, &[]),
    ];
    assert_eq!(packets_per_flow(&frames), (vec![(3, 2), (1, 0)], 2));
}

#[test]
fn a_dns_name_with_a_nul_is_shown_escaped() {
    let engine = Engine::new(Config::default()).unwrap();
    let server = [198, 51, 100, 9];
    let answer = cloudsight_testkit::dns::response(7, "cdn\0.evil.net", server, 300);
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 0, 2, 53], [10, 0, 0, 5], 64)
        .udp(53, 5353 + 1)
        .write(&mut frame, &answer)
        .unwrap();
    engine.process_packet(cloudsight::LinkType::Raw, &frame, 1, None);
    engine.process_packet(
        cloudsight::LinkType::Raw,
        &tcp_to(server, 41_000, "S", 1, &[]),
        2,
        None,
    );
    engine.flush(3);
    let r = engine
        .drain(10)
        .into_iter()
        .find(|r| r.client_port == 41_000)
        .unwrap();
    assert_eq!(r.server_name.as_deref(), Some("cdn\\x00.evil.net"));
    assert_eq!(r.registrable_domain.as_deref(), Some("evil.net"));
    assert_eq!(engine.stats().names_escaped, 1);
}

#[test]
fn a_4000_byte_sni_is_cut_to_its_rightmost_labels() {
    let engine = Engine::new(Config::default()).unwrap();
    let mut sni = String::new();
    while sni.len() < 4000 - "files.evil.net".len() {
        sni.push_str("abcdefgh.");
    }
    sni.push_str("files.evil.net");
    engine.set_domain_sanction("evil.net", Sanction::Unsanctioned);
    assert_eq!(tls_flow(&engine, 42_000, &sni), cloudsight::Verdict::Block);
    assert_eq!(engine.stats().names_cut, 1);
    assert_eq!(engine.stats().names_escaped, 0);
    engine.flush(3);
    let r = engine.drain(10).pop().unwrap();
    let name = r.server_name.unwrap();
    assert!(name.len() <= 253 && name.len() > 253 - 9, "{}", name.len());
    assert!(sni.ends_with(&name) && name.starts_with("abcdefgh."));
    assert!(name.ends_with(".files.evil.net"));
    assert_eq!(r.registrable_domain.as_deref(), Some("evil.net"));
}

// ---- Process context: bounded, interned, lossy-safe ----

use cloudsight::{ContextRef, FlowTuple, Transport, MAX_PROCESS_PATH, MAX_USER_FIELD};

fn udp_from(client: [u8; 4], src_port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4(client, [198, 51, 100, 7], 64)
        .udp(src_port, 9999)
        .write(&mut out, b"x")
        .unwrap();
    out
}

#[test]
fn flows_of_one_process_share_one_context() {
    let engine = Engine::new(Config::default()).unwrap();
    let path = format!("C:\\{}\\app.exe", "p".repeat(4000 - 11));
    assert_eq!(path.len(), 4000);
    let ctx = ContextRef {
        pid: Some(4242),
        process_start_ns: 7,
        process_path: Some(&path),
        user_name: Some("CORP\\alice"),
        ..ContextRef::default()
    };
    for f in 0..10_000u32 {
        let client = [10, 1, (f >> 8) as u8, f as u8];
        // Twice per flow: the second packet finds the context already held.
        for _ in 0..2 {
            engine.process_packet(
                cloudsight::LinkType::Raw,
                &udp_from(client, 5000),
                1,
                Some(ctx),
            );
        }
    }
    let stats = engine.stats();
    assert_eq!(stats.flows_active, 10_000);
    assert_eq!(
        stats.contexts_interned, 1,
        "one copy of the 4,000-byte path"
    );
    assert_eq!((stats.context_cut, stats.context_lossy), (0, 0));

    // Another process: a second entry; the same process by binding: still shared.
    let other = ContextRef {
        pid: Some(1),
        ..ctx
    };
    engine.process_packet(
        cloudsight::LinkType::Raw,
        &udp_from([10, 2, 0, 1], 5000),
        1,
        Some(other),
    );
    let tuple = FlowTuple {
        transport: Transport::Udp,
        src: [10, 3, 0, 1].into(),
        src_port: 5000,
        dst: SERVER.into(),
        dst_port: 9999,
    };
    engine.bind_context(&tuple, ctx, 1);
    assert_eq!(engine.stats().contexts_interned, 2);

    engine.flush(2);
    let records = engine.drain(20_000);
    assert_eq!(records.len(), 10_001);
    assert!(records
        .iter()
        .filter(|r| r.process.as_ref().unwrap().pid == 4242)
        .all(
            |r| r.process.as_ref().unwrap().path.as_deref() == Some(path.as_str())
                && r.user.as_ref().unwrap().name.as_deref() == Some("CORP\\alice")
        ));
}

#[test]
fn long_context_strings_are_cut_and_counted() {
    let engine = Engine::new(Config::default()).unwrap();
    // 'é' is 2 bytes after a 1-byte '/': byte 4096 falls inside a character.
    let path = format!("/{}", "é".repeat(5000));
    assert!(path.len() > 10_000);
    let user = "u".repeat(300);
    let ctx = ContextRef {
        pid: Some(1),
        process_path: Some(&path),
        user_id: Some(&user),
        ..ContextRef::default()
    };
    for _ in 0..3 {
        engine.process_packet(
            cloudsight::LinkType::Raw,
            &udp_from([10, 0, 0, 1], 6000),
            1,
            Some(ctx),
        );
    }
    // Taken once (the later packets match what the flow holds), cut once.
    assert_eq!(engine.stats().context_cut, 1);
    assert_eq!(engine.stats().contexts_interned, 1);
    engine.flush(2);
    let r = engine.drain(1).pop().unwrap();
    let kept = r.process.unwrap().path.unwrap();
    assert_eq!(
        kept.len(),
        MAX_PROCESS_PATH - 1,
        "cut at the character boundary below 4096"
    );
    assert!(path.starts_with(&kept));
    assert_eq!(r.user.unwrap().id.unwrap(), "u".repeat(MAX_USER_FIELD));
}

#[test]
fn lossy_contexts_are_counted_and_still_count_the_packet() {
    let engine = Engine::new(Config::default()).unwrap();
    let ctx = ContextRef {
        pid: Some(9),
        process_path: Some("/usr/bin/\u{fffd}x"),
        lossy: true,
        ..ContextRef::default()
    };
    engine.process_packet(
        cloudsight::LinkType::Raw,
        &udp_from([10, 0, 0, 2], 7000),
        1,
        Some(ctx),
    );
    engine.process_packet(
        cloudsight::LinkType::Raw,
        &udp_from([10, 0, 0, 2], 7000),
        1,
        Some(ctx),
    );
    let tuple = FlowTuple {
        transport: Transport::Udp,
        src: [10, 0, 0, 3].into(),
        src_port: 7000,
        dst: SERVER.into(),
        dst_port: 9999,
    };
    engine.bind_context(&tuple, ctx, 1);
    engine.bind_context(
        &tuple,
        ContextRef {
            lossy: false,
            ..ctx
        },
        1,
    );
    let stats = engine.stats();
    assert_eq!(stats.context_lossy, 3, "two packets and one binding");
    assert_eq!(stats.packets, 2);
    engine.flush(2);
    let r = engine.drain(1).pop().unwrap();
    assert_eq!(r.packets_up, 2);
    assert_eq!(
        r.process.unwrap().path.as_deref(),
        Some("/usr/bin/\u{fffd}x")
    );
}

#[test]
fn the_context_interner_is_bounded() {
    let engine = Engine::new(Config::default()).unwrap();
    let path = "p".repeat(MAX_PROCESS_PATH);
    // 4 MiB of strings is 1024 such paths: the interner never holds more.
    let mut most = 0;
    for f in 0..1500u32 {
        let ctx = ContextRef {
            pid: Some(f),
            process_path: Some(&path),
            ..ContextRef::default()
        };
        let client = [10, 4, (f >> 8) as u8, f as u8];
        engine.process_packet(
            cloudsight::LinkType::Raw,
            &udp_from(client, 1),
            1,
            Some(ctx),
        );
        most = most.max(engine.stats().contexts_interned);
    }
    assert_eq!(most, 1024);
    // 4096 entries at most, whatever their size.
    let engine = Engine::new(Config::default()).unwrap();
    let mut most = 0;
    for f in 0..5000u32 {
        let ctx = ContextRef {
            pid: Some(f),
            ..ContextRef::default()
        };
        let client = [10, 5, (f >> 8) as u8, f as u8];
        engine.process_packet(
            cloudsight::LinkType::Raw,
            &udp_from(client, 1),
            1,
            Some(ctx),
        );
        most = most.max(engine.stats().contexts_interned);
    }
    assert_eq!(most, 4096);
    assert_eq!(
        engine.stats().flows_active,
        5000,
        "every flow keeps its context"
    );
}
