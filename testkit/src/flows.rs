//! An engine filled with many flows of one kind: what the memory bench
//! (`benches/flow_memory.rs`) and the size test (`tests/size.rs`) measure per flow.

use cloudsight::{Engine, LinkType};

use crate::packet::Tcp;
use crate::tls::client_hello;

/// What each flow is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One payload-free TCP ACK: key, entry, table slot, eviction order.
    Unnamed,
    /// SYN, SYN-ACK, a TLS ClientHello with one of three SNIs and the server's first bytes: the
    /// name (SNI, ALPN, JA4, app) is shared by the flows of one name.
    Named,
    /// As `Named`, with a different SNI per flow (what a peer can force): a name of its own each.
    Unique,
    /// As `Named`, without the server's answer (a flood of hellos): the engine keeps watching
    /// each hello for a second version, within its budget for that.
    Unanswered,
}

impl Kind {
    /// Every kind, with its name in figures.
    pub const ALL: [(Kind, &'static str); 4] = [
        (Kind::Unnamed, "unnamed"),
        (Kind::Named, "named"),
        (Kind::Unique, "unique"),
        (Kind::Unanswered, "unanswered"),
    ];
}

fn frame(out: &mut Vec<u8>, i: u32, from_client: bool, flags: u8, payload: &[u8]) {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    Tcp::new((client, 40000), ([34, 120, 1, 10], 443))
        .ethernet()
        .up(from_client)
        .write(out, flags, payload);
}

/// Feed `engine` `n` new flows of `kind` (client 10.x.y.z:40000 to 34.120.1.10:443, 10 ns apart
/// from 1 s on).
pub fn fill(engine: &Engine, kind: Kind, n: u32) {
    let hellos: Vec<Vec<u8>> = ["app.slack.com", "www.dropbox.com", "outlook.office365.com"]
        .iter()
        .map(|s| client_hello(s, &["h2", "http/1.1"], 7))
        .collect();
    let mut buf = Vec::with_capacity(2048);
    let mut ts = 1_000_000_000u64;
    for i in 0..n {
        ts += 10;
        if kind == Kind::Unnamed {
            frame(&mut buf, i, true, 16, &[]);
            engine.process_packet(LinkType::Ethernet, &buf, ts, None);
            continue;
        }
        frame(&mut buf, i, true, 2, &[]);
        engine.process_packet(LinkType::Ethernet, &buf, ts, None);
        frame(&mut buf, i, false, 18, &[]);
        engine.process_packet(LinkType::Ethernet, &buf, ts + 1, None);
        let unique;
        let hello = if kind == Kind::Unique {
            unique = client_hello(&format!("h{i}.example.com"), &["h2", "http/1.1"], 7);
            &unique
        } else {
            &hellos[i as usize % hellos.len()]
        };
        frame(&mut buf, i, true, 16, hello);
        engine.process_packet(LinkType::Ethernet, &buf, ts + 2, None);
        if kind == Kind::Unanswered {
            continue;
        }
        // The server answers (the start of a ServerHello), as servers do: that settles which
        // version of the hello it took, and the engine lets go of the hello's bytes.
        frame(
            &mut buf,
            i,
            false,
            24,
            b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",
        );
        engine.process_packet(LinkType::Ethernet, &buf, ts + 3, None);
    }
}
