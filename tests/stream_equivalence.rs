//! Stream input (`open_flow`, `stream_data`, `close_flow`) names flows as packets do: the same
//! connections, fed once as packets and once as a stream sensor would see them, get the same names,
//! sources, apps and verdicts, and the stream side's bytes are what it was told.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use cloudsight::internal::packet::{parse, Parsed};
use cloudsight::{
    Config, Engine, FlowTuple, LinkType, Policy, Sanction, StreamDirection, Transport,
};
use cloudsight_testkit::capture;

type Endpoint = (IpAddr, u16);

fn engine() -> Engine {
    let engine = Engine::new(Config::default()).unwrap();
    let mut policy = Policy::new();
    policy.set_app("mega", Sanction::Unsanctioned);
    policy.set_app("dropbox", Sanction::Monitored);
    engine.set_policy(policy);
    engine
}

/// (transport, client, server) -> (server_name, name_source, app id, verdict, bytes up, bytes down)
type Summary = BTreeMap<
    (String, Endpoint, Endpoint),
    (Option<String>, String, Option<String>, String, u64, u64),
>;

fn summarize(engine: &Engine) -> Summary {
    let mut out = Summary::new();
    for r in engine.drain(usize::MAX) {
        let key = (
            format!("{:?}", r.protocol),
            (r.client_ip, r.client_port),
            (r.server_ip, r.server_port),
        );
        let e = out.entry(key).or_insert((
            r.server_name.clone(),
            format!("{:?}", r.name_source),
            r.app.as_ref().map(|a| a.id.clone()),
            format!("{:?}", r.verdict),
            0,
            0,
        ));
        e.4 += r.bytes_up;
        e.5 += r.bytes_down;
    }
    out
}

fn compare(path: &Path) -> usize {
    let frames = capture::read(path).unwrap();
    let link = |f: &capture::Frame| LinkType::from_linktype(f.linktype);

    let packets = engine();
    let mut last = 0;
    for f in &frames {
        if let Some(l) = link(f) {
            packets.process_packet(l, &f.data, f.ts_ns, None);
        }
        last = last.max(f.ts_ns);
    }
    packets.flush(last);
    let by_packets = summarize(&packets);
    let clients: BTreeMap<_, _> = by_packets
        .keys()
        .map(|(p, c, s)| ((p.clone(), *c, *s), ()))
        .collect();

    // The stream sensor: one open per connection (client known), the payloads in order, the wire
    // bytes of every packet that carried data, a close at the end.
    let streams = engine();
    let mut opened: BTreeMap<(String, Endpoint, Endpoint), FlowTuple> = BTreeMap::new();
    let mut sent: BTreeMap<(String, Endpoint, Endpoint), (u64, u64)> = BTreeMap::new();
    for f in &frames {
        let Some(l) = link(f) else { continue };
        let Ok(Parsed::Packet(v)) = parse(l, &f.data) else {
            continue;
        };
        if v.payload.is_empty() {
            continue;
        }
        let proto = match v.transport {
            Transport::Tcp => "Tcp",
            Transport::Udp => "Udp",
        }
        .to_owned();
        let (a, b) = ((v.src, v.src_port), (v.dst, v.dst_port));
        let (key, direction) = if clients.contains_key(&(proto.clone(), a, b)) {
            ((proto, a, b), StreamDirection::ClientToServer)
        } else if clients.contains_key(&(proto.clone(), b, a)) {
            ((proto, b, a), StreamDirection::ServerToClient)
        } else {
            continue;
        };
        let tuple = *opened.entry(key.clone()).or_insert_with(|| {
            let t = FlowTuple {
                transport: v.transport,
                src: key.1 .0,
                src_port: key.1 .1,
                dst: key.2 .0,
                dst_port: key.2 .1,
            };
            streams.open_flow(&t, None, f.ts_ns);
            t
        });
        streams.stream_data(&tuple, direction, v.payload, u64::from(v.ip_len), f.ts_ns);
        let s = sent.entry(key).or_default();
        match direction {
            StreamDirection::ClientToServer => s.0 += u64::from(v.ip_len),
            StreamDirection::ServerToClient => s.1 += u64::from(v.ip_len),
        }
    }
    for tuple in opened.values() {
        assert!(streams.close_flow(tuple, last));
    }
    let by_streams = summarize(&streams);

    let mut compared = 0;
    for (key, s) in &by_streams {
        let p = &by_packets[key];
        assert_eq!(
            (&s.0, &s.1, &s.2, &s.3),
            (&p.0, &p.1, &p.2, &p.3),
            "{}: {key:?}",
            path.display()
        );
        assert_eq!(
            (s.4, s.5),
            sent[key],
            "stream bytes are the wire bytes given"
        );
        compared += 1;
    }
    compared
}

#[test]
fn sample_capture_names_the_same_both_ways() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.pcap");
    let compared = compare(&sample);
    assert!(compared >= 20, "only {compared} flows compared");
}

#[test]
fn corpus_captures_name_the_same_both_ways() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcap");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the corpus is missing"
        );
        eprintln!("skipped: corpus not found at {}", dir.display());
        return;
    }
    let mut total = 0;
    for name in [
        "ndpi_teams.pcap",
        "ndpi_netflix.pcap",
        "zeek_wikipedia.pcap",
        "retina_quic.pcap",
        "sv_tls-client-hello-frag-01.pcap",
    ] {
        total += compare(&dir.join(name));
    }
    eprintln!("compared {total} flows");
    assert!(total > 100);
}
