//! The sample capture `discover` reads when given none (`examples/data/sample.pcap`): a laptop's
//! morning of cloud use, built packet by packet with etherparse (no third-party capture in the repo).
//! `cargo run --example make_sample` writes it; a test checks the committed file is [`sample`].

use etherparse::PacketBuilder;

use crate::dns;
pub use crate::tls::client_hello;

const MAC_LAPTOP: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const MAC_GATEWAY: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const START_NS: u64 = 1_764_140_400_000_000_000; // 2025-11-26 07:00:00 UTC

/// A pcap writer (LINKTYPE_ETHERNET unless told, nanosecond timestamps).
pub struct Pcap {
    bytes: Vec<u8>,
}

impl Pcap {
    /// An empty capture: the file header only.
    pub fn new() -> Pcap {
        Pcap::with_linktype(1)
    }

    /// An empty capture of frames of the pcap LINKTYPE `linktype`.
    pub fn with_linktype(linktype: u32) -> Pcap {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond magic
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&linktype.to_le_bytes());
        Pcap { bytes }
    }

    /// Append one frame captured at `ts_ns`.
    pub fn frame(&mut self, ts_ns: u64, frame: &[u8]) {
        self.bytes
            .extend_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl Default for Pcap {
    fn default() -> Pcap {
        Pcap::new()
    }
}

/// Serialize a finished etherparse builder step with its payload into a frame.
macro_rules! frame {
    ($builder:expr, $payload:expr) => {{
        let mut frame = Vec::new();
        $builder.write(&mut frame, $payload).expect("valid packet");
        frame
    }};
}

struct Laptop {
    pcap: Pcap,
    ip: [u8; 4],
    next_port: u16,
    ts: u64,
}

impl Laptop {
    fn send(&mut self, frame: Vec<u8>) {
        self.pcap.frame(self.ts, &frame);
        self.ts += 3_000_000;
    }

    /// One TCP connection: handshake, the client's first bytes, `responses` server segments of
    /// `size` bytes with ACKs, then FINs both ways.
    fn tcp(&mut self, server: [u8; 4], port: u16, first: &[u8], responses: u32, size: usize) {
        let cport = self.next_port;
        self.next_port += 1;
        let (mut cseq, mut sseq) = (1_000u32, 50_000u32);
        let c = |seq: u32, ack: u32| {
            PacketBuilder::ethernet2(MAC_LAPTOP, MAC_GATEWAY)
                .ipv4(self.ip, server, 64)
                .tcp(cport, port, seq, 64240)
                .ack(ack)
        };
        let s = |seq: u32, ack: u32| {
            PacketBuilder::ethernet2(MAC_GATEWAY, MAC_LAPTOP)
                .ipv4(server, self.ip, 58)
                .tcp(port, cport, seq, 65535)
                .ack(ack)
        };
        let syn = PacketBuilder::ethernet2(MAC_LAPTOP, MAC_GATEWAY)
            .ipv4(self.ip, server, 64)
            .tcp(cport, port, cseq, 64240)
            .syn();
        let mut frames = vec![frame!(syn, &[]), frame!(s(sseq, cseq + 1).syn(), &[])];
        cseq += 1;
        sseq += 1;
        frames.push(frame!(c(cseq, sseq), &[]));
        frames.push(frame!(c(cseq, sseq).psh(), first));
        cseq += first.len() as u32;
        let body = vec![0x17u8; size];
        for _ in 0..responses {
            frames.push(frame!(s(sseq, cseq).psh(), &body));
            sseq += size as u32;
            frames.push(frame!(c(cseq, sseq), &[]));
        }
        frames.push(frame!(c(cseq, sseq).fin(), &[]));
        cseq += 1;
        frames.push(frame!(s(sseq, cseq).fin(), &[]));
        sseq += 1;
        frames.push(frame!(c(cseq, sseq), &[]));
        for f in frames {
            self.send(f);
        }
        self.ts += 200_000_000;
    }

    fn dns(&mut self, resolver: [u8; 4], id: u16, name: &str, answer: [u8; 4]) {
        let cport = self.next_port;
        self.next_port += 1;
        let q = PacketBuilder::ethernet2(MAC_LAPTOP, MAC_GATEWAY)
            .ipv4(self.ip, resolver, 64)
            .udp(cport, 53);
        let q = frame!(q, &dns::query(id, name));
        self.send(q);
        let r = PacketBuilder::ethernet2(MAC_GATEWAY, MAC_LAPTOP)
            .ipv4(resolver, self.ip, 64)
            .udp(53, cport);
        let r = frame!(r, &dns::response(id, name, answer, 300));
        self.send(r);
    }
}

/// The sample: TLS to well-known cloud apps, an unknown SaaS, plain HTTP, a DNS-named connection
/// without SNI, and DNS lookups, from one laptop.
pub fn sample() -> Vec<u8> {
    let mut l = Laptop {
        pcap: Pcap::new(),
        ip: [192, 168, 1, 23],
        next_port: 50_100,
        ts: START_NS,
    };
    let resolver = [192, 168, 1, 1];
    let h2 = ["h2", "http/1.1"];
    let visits: &[(&str, [u8; 4], u32, usize)] = &[
        ("app.slack.com", [34, 120, 1, 10], 6, 1200),
        ("drive.google.com", [142, 250, 1, 20], 12, 1400),
        ("chatgpt.com", [104, 18, 2, 30], 8, 1100),
        ("www.dropbox.com", [162, 125, 3, 40], 20, 1400),
        ("github.com", [140, 82, 4, 50], 5, 1300),
        ("teams.microsoft.com", [52, 112, 5, 60], 9, 1000),
        ("mega.nz", [31, 216, 6, 70], 15, 1400),
        ("files.acme-startup.io", [203, 0, 113, 80], 4, 900),
        ("evilslack.com", [198, 51, 100, 90], 2, 600),
    ];
    for (i, (name, ip, n, size)) in visits.iter().enumerate() {
        l.dns(resolver, 0x1000 + i as u16, name, *ip);
        l.tcp(*ip, 443, &client_hello(name, &h2, i as u8), *n, *size);
    }
    // Plain HTTP to an update server.
    let http = b"GET /v1/check HTTP/1.1\r\nHost: updates.example.org\r\nUser-Agent: sample\r\n\r\n";
    l.tcp([93, 184, 215, 14], 80, http, 3, 800);
    // A connection that sends no name in-band: named from the DNS answer before it.
    l.dns(resolver, 0x2000, "api.notion.com", [208, 103, 161, 1]);
    l.tcp(
        [208, 103, 161, 1],
        443,
        &[0x17, 3, 3, 0, 4, 1, 2, 3, 4],
        3,
        700,
    );
    // A second visit to Slack later, from another port.
    l.ts += 60_000_000_000;
    l.tcp(
        [34, 120, 1, 11],
        443,
        &client_hello("files.slack.com", &h2, 42),
        10,
        1400,
    );
    l.pcap.into_bytes()
}
