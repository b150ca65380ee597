//! The C ABI from both sides: the C programs in `examples/c/` built with `cc -Wall -Wextra -Werror`
//! against `libcloudsight.a` and run, and the `extern "C"` functions called from Rust.
//!
//! - `api_misuse` calls every export with NULL pointers, zero lengths, bad enum values and tiny
//!   buffers and must exit 0; it also prints the C sizes of the ABI structs, compared here with
//!   the Rust ones.
//! - `discover` (C) on a pcap generated here, and on the corpus captures when `../shared/corpus`
//!   exists, must print the same records with 1 and 2 threads, and the same records as the Rust
//!   `discover` tool (package cloudsight-cli) with `--format jsonl` (flow ids and the device
//!   differ by design and are left out of the comparison).
//!
//! The static library and the Rust tool are (re)built with a nested `cargo build` into the
//! same target directory, because `cargo test` builds only the rlib. Set `CC` to choose the C
//! compiler. The generated capture is also written to `<target-dir>/test-data/sample.pcap` for
//! `.ci/c-sanitizers.sh`.
#![allow(unused_unsafe)] // calls to the C exports are wrapped one by one

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use cloudsight::capi::*;
use cloudsight_testkit::dns;
use etherparse::PacketBuilder;

// ---------------------------------------------------------------------------------------------
// Locations and builds
// ---------------------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: the test executable lives in `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("<target>/<profile>")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn must_succeed(what: &str, cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct Built {
    api_misuse: PathBuf,
    abi_compat: PathBuf,
    teardown: PathBuf,
    discover_c: PathBuf,
    /// The Rust `discover` tool (package cloudsight-cli), when it builds.
    discover_rust: Option<PathBuf>,
}

fn cargo_build(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .arg("build")
        .args(args)
        .arg("--target-dir")
        .arg(target_dir());
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    run(&mut cmd)
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // One cargo invocation for both (the machine has few cores).
        let both = cargo_build(&[
            "-p",
            "cloudsight",
            "--lib",
            "-p",
            "cloudsight-cli",
            "--bin",
            "discover",
        ]);
        let discover_rust = if both.status.success() {
            Some(profile_dir().join(format!("discover{}", std::env::consts::EXE_SUFFIX)))
        } else {
            let lib = cargo_build(&["-p", "cloudsight", "--lib"]);
            assert!(
                lib.status.success(),
                "cargo build --lib failed:\n{}",
                String::from_utf8_lossy(&lib.stderr)
            );
            eprintln!(
                "note: the Rust `discover` tool did not build; comparing C outputs only:\n{}",
                String::from_utf8_lossy(&both.stderr)
            );
            None
        };
        let lib = profile_dir().join("libcloudsight.a");
        assert!(
            lib.exists(),
            "{} missing after cargo build --lib",
            lib.display()
        );
        let out_dir = profile_dir().join("c-api-tests");
        std::fs::create_dir_all(&out_dir).unwrap();
        let compile = |name: &str| {
            let exe = out_dir.join(name);
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
            must_succeed(
                &format!("compiling examples/c/{name}.c"),
                Command::new(cc)
                    .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
                    .arg("-I")
                    .arg(root().join("include"))
                    .arg(root().join("examples").join("c").join(format!("{name}.c")))
                    .arg(&lib)
                    .args(["-lpthread", "-ldl", "-lm", "-o"])
                    .arg(&exe),
            );
            exe
        };
        Built {
            api_misuse: compile("api_misuse"),
            abi_compat: compile("abi_compat"),
            teardown: compile("teardown"),
            discover_c: compile("discover"),
            discover_rust,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A generated capture
// ---------------------------------------------------------------------------------------------

const START_NS: u64 = 1_700_000_000_123_456_789;
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0x0b];

struct Capture {
    /// (timestamp ns, Ethernet frame)
    frames: Vec<(u64, Vec<u8>)>,
    now: u64,
}

/// One side's addressing for the builder.
#[derive(Clone, Copy)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

#[derive(Clone, Copy)]
struct Ends {
    client: Ip,
    server: Ip,
    vlan: Option<u16>,
}

impl Capture {
    fn new() -> Capture {
        Capture {
            frames: Vec::new(),
            now: START_NS,
        }
    }

    fn push(&mut self, frame: Vec<u8>) {
        self.now += 7_919_000; // ~8 ms between frames, with sub-microsecond digits
        self.frames.push((self.now, frame));
    }

    fn builder(e: Ends, up: bool) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        let (src, dst) = if up {
            (e.client, e.server)
        } else {
            (e.server, e.client)
        };
        let (smac, dmac) = if up { (MAC_A, MAC_B) } else { (MAC_B, MAC_A) };
        let eth = PacketBuilder::ethernet2(smac, dmac);
        let ip = match (src, dst) {
            (Ip::V4(s), Ip::V4(d)) => etherparse::IpHeaders::Ipv4(
                etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, s, d).unwrap(),
                Default::default(),
            ),
            (Ip::V6(s), Ip::V6(d)) => etherparse::IpHeaders::Ipv6(
                etherparse::Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: 0,
                    next_header: etherparse::IpNumber::TCP,
                    hop_limit: 64,
                    source: s,
                    destination: d,
                },
                Default::default(),
            ),
            _ => unreachable!("mixed families"),
        };
        match e.vlan {
            Some(id) => eth
                .single_vlan(etherparse::VlanId::try_new(id).unwrap())
                .ip(ip),
            None => eth.ip(ip),
        }
    }

    fn udp(&mut self, e: Ends, up: bool, ports: (u16, u16), payload: &[u8]) {
        let (sp, dp) = if up { ports } else { (ports.1, ports.0) };
        let mut frame = Vec::new();
        Self::builder(e, up)
            .udp(sp, dp)
            .write(&mut frame, payload)
            .unwrap();
        self.push(frame);
    }

    /// A whole TCP connection: handshake, the exchanges (true = client to server), FIN from both.
    fn tcp_session(&mut self, e: Ends, ports: (u16, u16), exchanges: &[(bool, &[u8])], rst: bool) {
        let (cp, sp) = ports;
        let (mut cseq, mut sseq) = (1_000u32, 50_000u32);
        let seg =
            |cap: &mut Capture, up: bool, flags: &str, payload: &[u8], cseq: u32, sseq: u32| {
                let (s, d, seq, ack) = if up {
                    (cp, sp, cseq, sseq)
                } else {
                    (sp, cp, sseq, cseq)
                };
                let mut b = Self::builder(e, up).tcp(s, d, seq, 64_000);
                if flags.contains('S') {
                    b = b.syn();
                }
                if flags.contains('A') {
                    b = b.ack(ack);
                }
                if flags.contains('F') {
                    b = b.fin();
                }
                if flags.contains('R') {
                    b = b.rst();
                }
                if flags.contains('P') {
                    b = b.psh();
                }
                let mut frame = Vec::new();
                b.write(&mut frame, payload).unwrap();
                cap.push(frame);
            };
        seg(self, true, "S", &[], cseq, 0);
        cseq += 1;
        seg(self, false, "SA", &[], cseq, sseq);
        sseq += 1;
        seg(self, true, "A", &[], cseq, sseq);
        for (up, data) in exchanges {
            seg(self, *up, "PA", data, cseq, sseq);
            if *up {
                cseq += data.len() as u32;
                seg(self, false, "A", &[], cseq, sseq);
            } else {
                sseq += data.len() as u32;
                seg(self, true, "A", &[], cseq, sseq);
            }
        }
        if rst {
            seg(self, true, "RA", &[], cseq, sseq);
            return;
        }
        seg(self, true, "FA", &[], cseq, sseq);
        cseq += 1;
        seg(self, false, "FA", &[], cseq, sseq);
        sseq += 1;
        seg(self, true, "A", &[], cseq, sseq);
    }

    fn arp(&mut self) {
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0xff; 6]);
        frame.extend_from_slice(&MAC_A);
        frame.extend_from_slice(&[0x08, 0x06]);
        frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        frame.extend_from_slice(&MAC_A);
        frame.extend_from_slice(&[10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
        self.push(frame);
    }

    /// Classic pcap, Ethernet; `big_endian` and `nanos` pick the byte order and the magic.
    fn to_pcap(&self, big_endian: bool, nanos: bool) -> Vec<u8> {
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u16b(4));
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(&u32b(0));
        out.extend_from_slice(&u32b(65_535));
        out.extend_from_slice(&u32b(1));
        for (ts, frame) in &self.frames {
            let frac = if nanos {
                ts % 1_000_000_000
            } else {
                ts % 1_000_000_000 / 1000
            };
            out.extend_from_slice(&u32b((ts / 1_000_000_000) as u32));
            out.extend_from_slice(&u32b(frac as u32));
            out.extend_from_slice(&u32b(frame.len() as u32));
            out.extend_from_slice(&u32b(frame.len() as u32));
            out.extend_from_slice(frame);
        }
        out
    }
}

/// Flows the generated capture holds (one record each after the final flush).
const SAMPLE_FLOWS: usize = 8;

fn sample_capture() -> Capture {
    let v4 = |a, b, c, d| Ip::V4([a, b, c, d]);
    let laptop = v4(10, 0, 0, 5);
    let v6 = |last: u8| {
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = 0xb8;
        a[15] = last;
        Ip::V6(a)
    };
    let laptop6 = v6(5);
    let mut c = Capture::new();
    c.arp();
    // DNS, then a connection to the answer's address (named by the DNS cache).
    let resolver = Ends {
        client: laptop,
        server: v4(10, 0, 0, 1),
        vlan: None,
    };
    c.udp(
        resolver,
        true,
        (53_000, 53),
        &dns::query(0x1234, "files.example.com"),
    );
    c.udp(
        resolver,
        false,
        (53_000, 53),
        &dns::response(0x1234, "files.example.com", [93, 184, 216, 34], 300),
    );
    let files = Ends {
        client: laptop,
        server: v4(93, 184, 216, 34),
        vlan: None,
    };
    c.tcp_session(
        files,
        (40_001, 443),
        &[(true, &[0x17; 120]), (false, &[0x17; 900])],
        false,
    );
    // HTTP with a Host header.
    let web = Ends {
        client: laptop,
        server: v4(198, 51, 100, 7),
        vlan: None,
    };
    c.tcp_session(
        web,
        (40_002, 80),
        &[
            (
                true,
                b"GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nAccept: */*\r\n\r\n",
            ),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
        ],
        false,
    );
    // Plain UDP both ways.
    let game = Ends {
        client: laptop,
        server: v4(203, 0, 113, 9),
        vlan: None,
    };
    for i in 0..3u8 {
        c.udp(game, true, (5_000, 6_000), &[i; 40]);
        c.udp(game, false, (5_000, 6_000), &[i; 200]);
    }
    // IPv6: TCP ended by RST, and UDP.
    let six = Ends {
        client: laptop6,
        server: v6(0x80),
        vlan: None,
    };
    c.tcp_session(
        six,
        (40_003, 443),
        &[(true, &[1; 64]), (false, &[2; 640])],
        true,
    );
    let six_udp = Ends {
        client: laptop6,
        server: v6(0x99),
        vlan: None,
    };
    c.udp(six_udp, true, (4_000, 9_999), b"ping");
    c.udp(six_udp, false, (4_000, 9_999), b"pong!");
    // 802.1Q-tagged TCP.
    let tagged = Ends {
        client: v4(10, 1, 0, 5),
        server: v4(192, 0, 2, 10),
        vlan: Some(100),
    };
    c.tcp_session(
        tagged,
        (40_004, 8080),
        &[(true, b"hello over a VLAN")],
        false,
    );
    // A second HTTP connection to the same server, interleaved with nothing: a separate flow.
    c.tcp_session(
        web,
        (40_005, 80),
        &[(true, b"GET /b HTTP/1.1\r\nHost: www.example.org\r\n\r\n")],
        false,
    );
    c.arp();
    c
}

/// The generated capture as files: little-endian microsecond pcap (also at the well-known path
/// `<target-dir>/test-data/sample.pcap` for the sanitizer script) and big-endian nanosecond pcap.
fn sample_files() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = target_dir().join("test-data");
        std::fs::create_dir_all(&dir).unwrap();
        let capture = sample_capture();
        let write = |name: &str, bytes: Vec<u8>| {
            let path = dir.join(name);
            let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            path
        };
        (
            write("sample.pcap", capture.to_pcap(false, false)),
            write("sample-be-ns.pcap", capture.to_pcap(true, true)),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Running and comparing
// ---------------------------------------------------------------------------------------------

fn discover_c(file: &Path, args: &[&str]) -> String {
    let out = must_succeed(
        "C discover",
        Command::new(&built().discover_c).args(args).arg(file),
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn discover_rust(file: &Path) -> Option<String> {
    let exe = built().discover_rust.as_ref()?;
    let out = must_succeed(
        "Rust discover --format jsonl",
        Command::new(exe).args(["--format", "jsonl"]).arg(file),
    );
    Some(String::from_utf8(out.stdout).expect("UTF-8 output"))
}

/// Sorted JSON lines without the fields that legitimately differ.
fn normalized(jsonl: &str, drop: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = jsonl
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            let obj = v.as_object_mut().expect("a JSON object per line");
            for key in drop {
                assert!(obj.remove(*key).is_some(), "record lacks `{key}`: {line}");
            }
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    lines.sort();
    lines
}

fn assert_same(what: &str, a: &[String], b: &[String]) {
    if a == b {
        return;
    }
    let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).take(3).collect();
    let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).take(3).collect();
    panic!(
        "{what}: {} vs {} records differ.\nonly in the first (up to 3):\n{}\nonly in the second (up to 3):\n{}",
        a.len(),
        b.len(),
        only_a.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        only_b.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
    );
}

/// (protocol, client, server, bytes up, bytes down) of each record, from JSON lines.
fn summaries_from_json(jsonl: &str) -> BTreeSet<(String, SocketAddr, SocketAddr, u64, u64)> {
    jsonl
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ep = |ip: &str, port: &str| {
                let ip: std::net::IpAddr = v[ip].as_str().unwrap().parse().unwrap();
                SocketAddr::new(ip, v[port].as_u64().unwrap() as u16)
            };
            (
                v["protocol"].as_str().unwrap().to_owned(),
                ep("client_ip", "client_port"),
                ep("server_ip", "server_port"),
                v["bytes_up"].as_u64().unwrap(),
                v["bytes_down"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The same from `discover --structs` lines:
/// `flow ID PROTO CLIENT -> SERVER up N down N name NAME app APP`.
fn summaries_from_structs(text: &str) -> BTreeSet<(String, SocketAddr, SocketAddr, u64, u64)> {
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert!(
                f.len() == 14 && f[0] == "flow" && f[4] == "->" && f[6] == "up",
                "{line}"
            );
            (
                f[2].to_owned(),
                f[3].parse().unwrap_or_else(|e| panic!("{e}: {line}")),
                f[5].parse().unwrap_or_else(|e| panic!("{e}: {line}")),
                f[7].parse().unwrap(),
                f[9].parse().unwrap(),
            )
        })
        .collect()
}

/// C discover with 1 and 2 threads, and the Rust tool, agree on `file`. Returns the records.
fn check_capture(file: &Path) -> String {
    let one = discover_c(file, &["--threads", "1"]);
    let two = discover_c(file, &["--threads", "2"]);
    let one_n = normalized(&one, &["flow_id"]);
    assert_same(
        &format!("{}: C discover --threads 1 vs --threads 2", file.display()),
        &one_n,
        &normalized(&two, &["flow_id"]),
    );
    let structs = discover_c(file, &["--threads", "2", "--structs"]);
    assert_eq!(
        summaries_from_json(&one),
        summaries_from_structs(&structs),
        "{}: --structs (cloudsight_engine_drain) disagrees with the JSON lines",
        file.display()
    );
    if let Some(rust) = discover_rust(file) {
        assert_same(
            &format!(
                "{}: C discover vs Rust discover --format jsonl",
                file.display()
            ),
            &normalized(&one, &["flow_id", "device"]),
            &normalized(&rust, &["flow_id", "device"]),
        );
    }
    one
}

fn is_classic_pcap(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    matches!(
        bytes.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
        )
    )
}

// ---------------------------------------------------------------------------------------------
// Tests: C programs
// ---------------------------------------------------------------------------------------------

#[test]
fn c_api_misuse_passes_and_layouts_match() {
    let out = must_succeed("api_misuse", &mut Command::new(&built().api_misuse));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let layout = stdout
        .lines()
        .find(|l| l.starts_with("layout "))
        .expect("layout line");
    let expected = format!(
        "layout record={} config={} context={} stats={} flow_tuple={} ip={}",
        size_of::<cloudsight_record>(),
        size_of::<cloudsight_config>(),
        size_of::<cloudsight_context>(),
        size_of::<cloudsight_stats>(),
        size_of::<cloudsight_flow_tuple>(),
        size_of::<cloudsight_ip>(),
    );
    assert_eq!(layout, expected, "C and Rust disagree on struct sizes");
}

#[test]
fn c_callers_of_older_and_newer_layouts_and_packed_includers_work() {
    let out = must_succeed("abi_compat", &mut Command::new(&built().abi_compat));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "layout under pack(1): record={} context={} config={}",
            size_of::<cloudsight_record>(),
            size_of::<cloudsight_context>(),
            size_of::<cloudsight_config>()
        )),
        "{stdout}"
    );
}

#[test]
fn c_free_racing_calls_returns_shut_down() {
    must_succeed("teardown", Command::new(&built().teardown).arg("5"));
}

#[test]
fn c_discover_generated_capture_matches_across_threads_and_rust() {
    let (le_us, be_ns) = sample_files();
    let records = check_capture(le_us);
    assert_eq!(records.lines().count(), SAMPLE_FLOWS, "records:\n{records}");
    // The DNS answer names the later flow to its address whichever thread handles each packet
    // (DNS packets are ordering points in the C example).
    for needle in [
        "\"client_ip\":\"2001:db8::5\"",
        "\"server_ip\":\"192.0.2.10\"",
        "\"device\":{\"id\":\"c-example\"",
        "\"server_name\":\"files.example.com\",\"name_source\":\"dns\"",
        "\"server_name\":\"www.example.org\",\"name_source\":\"http_host\"",
    ] {
        assert!(
            records.contains(needle),
            "no record with {needle}:\n{records}"
        );
    }
    // The same packets in big-endian nanosecond pcap: the same records, to the nanosecond.
    let be = check_capture(be_ns);
    let ns = |text: &str| normalized(text, &["flow_id", "first_seen_ns", "last_seen_ns"]);
    assert_eq!(ns(&records), ns(&be));
    let first_seen: BTreeSet<u64> = be
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["first_seen_ns"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        first_seen.iter().any(|t| t % 1000 != 0),
        "nanosecond timestamps lost"
    );
}

#[test]
fn c_discover_bundled_sample_matches() {
    let sample = root().join("examples").join("data").join("sample.pcap");
    if !sample.exists() || !is_classic_pcap(&sample) {
        eprintln!("skipped: {} absent or not a classic pcap", sample.display());
        return;
    }
    check_capture(&sample);
}

#[test]
fn c_discover_corpus_matches() {
    let dir = root().join("..").join("shared").join("corpus").join("pcap");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the corpus {} is absent",
            dir.display()
        );
        eprintln!("skipped: corpus {} absent", dir.display());
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    let mut checked = 0;
    for file in &files {
        if !is_classic_pcap(file) {
            eprintln!("skipped {}: not a classic pcap inside", file.display());
            continue;
        }
        check_capture(file);
        checked += 1;
    }
    assert!(checked > 0, "no classic pcap in {}", dir.display());
}

#[test]
fn c_discover_rejects_pcapng_and_garbage() {
    let dir = target_dir().join("test-data");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &[u8], i32, &str); 4] = [
        (
            "ng.pcapng",
            &[
                0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a,
            ],
            2,
            "pcapng",
        ),
        (
            "garbage.pcap",
            b"this is not a capture file at all",
            2,
            "not a pcap",
        ),
        ("short.pcap", &[0xd4, 0xc3, 0xb2, 0xa1], 2, "not a pcap"),
        ("missing.pcap", b"", 1, "cannot open"),
    ];
    for (name, bytes, code, message) in cases {
        let path = dir.join(name);
        if name == "missing.pcap" {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::write(&path, bytes).unwrap();
        }
        let out = run(Command::new(&built().discover_c).arg(&path));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(
            stderr.contains(message),
            "{name}: stderr lacks `{message}`: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: printed records");
    }
    // A capture cut inside a record is an error, not a silent short read.
    let (le_us, _) = sample_files();
    let bytes = std::fs::read(le_us).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = run(Command::new(&built().discover_c).arg(&cut));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

// ---------------------------------------------------------------------------------------------
// Tests: the extern "C" functions called from Rust
// ---------------------------------------------------------------------------------------------

#[test]
fn a_panic_comes_back_as_a_result_and_poisons_the_engine() {
    let mut engine = std::ptr::null_mut();
    assert_eq!(
        unsafe { cloudsight_engine_new(std::ptr::null(), &mut engine) },
        cloudsight_result::Ok
    );
    let frame = udp_frame();
    let feed = |engine| unsafe {
        cloudsight_engine_process_packet(
            engine,
            228,
            frame.as_ptr(),
            frame.len(),
            1,
            std::ptr::null(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(feed(engine), cloudsight_result::Ok);
    assert_eq!(
        unsafe { cloudsight::capi::panic_inside_for_tests(engine) },
        cloudsight_result::Panic
    );
    // Every later call but stats and free is refused with its own result.
    assert_eq!(feed(engine), cloudsight_result::Poisoned);
    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 2) },
        cloudsight_result::Poisoned
    );
    let mut stats = cloudsight_stats::default();
    assert_eq!(
        unsafe { cloudsight_engine_stats(engine, &mut stats) },
        cloudsight_result::Poisoned
    );
    assert_eq!(stats.poisoned, 1);
    assert_eq!(stats.packets, 1, "stats are still served");
    unsafe { cloudsight_engine_free(engine) };
    // After free: a distinct result, no use of freed memory (ASan/valgrind runs check that).
    assert_eq!(feed(engine), cloudsight_result::ShutDown);
    assert_eq!(
        unsafe { cloudsight_engine_stats(engine, &mut stats) },
        cloudsight_result::ShutDown
    );
    unsafe { cloudsight_engine_free(engine) }; // a second free is a no-op
}

#[test]
fn null_pointers_are_refused() {
    use std::ptr::{null, null_mut};
    let n = cloudsight_result::NullParameter;
    assert_eq!(unsafe { cloudsight_config_default(null_mut()) }, n);
    assert_eq!(unsafe { cloudsight_engine_new(null(), null_mut()) }, n);
    unsafe { cloudsight_engine_free(null_mut()) };
    let frame = [0u8; 20];
    let mut verdict = cloudsight_verdict::Block;
    assert_eq!(
        unsafe {
            cloudsight_engine_process_packet(
                null(),
                1,
                frame.as_ptr(),
                frame.len(),
                0,
                null(),
                &mut verdict,
            )
        },
        n
    );
    assert_eq!(
        verdict,
        cloudsight_verdict::Allow,
        "a failed call answers the fail-open verdict"
    );
    assert_eq!(
        unsafe { cloudsight_engine_bind_context(null(), null(), null(), 0) },
        n
    );
    assert_eq!(unsafe { cloudsight_engine_tick(null(), 0) }, n);
    assert_eq!(unsafe { cloudsight_engine_flush(null(), 0) }, n);
    let mut written = 7usize;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                null(),
                null_mut(),
                0,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        n
    );
    assert_eq!(
        unsafe { cloudsight_engine_drain_encoded(null(), 1, null_mut(), 0, &mut written) },
        n
    );
    assert_eq!(written, 0, "*written is 0 on every error");
    assert_eq!(unsafe { cloudsight_engine_stats(null(), null_mut()) }, n);

    let mut engine = null_mut();
    assert_eq!(
        unsafe { cloudsight_engine_new(null(), &mut engine) },
        cloudsight_result::Ok
    );
    assert!(!engine.is_null());
    assert_eq!(
        unsafe { cloudsight_engine_process_packet(engine, 1, null(), 3, 0, null(), &mut verdict) },
        n
    );
    assert_eq!(
        unsafe { cloudsight_engine_process_packet(engine, 1, null(), 0, 0, null(), &mut verdict) },
        cloudsight_result::Ok
    );
    assert_eq!(verdict, cloudsight_verdict::Allow);
    assert_eq!(
        unsafe {
            cloudsight_engine_process_packet(
                engine,
                4242,
                frame.as_ptr(),
                frame.len(),
                0,
                null(),
                null_mut(),
            )
        },
        cloudsight_result::UnknownLinkType
    );
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                null_mut(),
                1,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        n
    );
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                null_mut(),
                0,
                size_of::<cloudsight_record>(),
                null_mut(),
            )
        },
        n
    );
    assert_eq!(
        unsafe { cloudsight_engine_drain_encoded(engine, 1, null_mut(), 4, &mut written) },
        n
    );
    assert_eq!(
        unsafe { cloudsight_engine_drain_encoded(engine, 9, null_mut(), 0, &mut written) },
        cloudsight_result::InvalidArgument
    );
    assert_eq!(unsafe { cloudsight_engine_stats(engine, null_mut()) }, n);
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn engine_round_trip_from_rust() {
    use std::ptr::{null, null_mut};
    let mut config = std::mem::MaybeUninit::new(cloudsight_config::default());
    assert_eq!(
        unsafe { cloudsight_config_default(config.as_mut_ptr()) },
        cloudsight_result::Ok
    );
    // SAFETY: initialized by cloudsight_config_default on success.
    let mut config = unsafe { config.assume_init() };
    config.device_id = c"rust-side".as_ptr();
    let mut engine = null_mut();
    assert_eq!(
        unsafe { cloudsight_engine_new(&config, &mut engine) },
        cloudsight_result::Ok
    );

    let ctx = cloudsight_context {
        has_pid: 1,
        pid: 77,
        process_start_ns: 5,
        process_path: c"/usr/bin/tool".as_ptr(),
        user_name: c"alice".as_ptr(),
        user_id: null(),
        ..Default::default()
    };
    let frame = one_udp_flow(engine, &ctx);

    let mut needed = 0usize;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain_encoded(
                engine,
                cloudsight_encoding::JsonLines as u32,
                null_mut(),
                0,
                &mut needed,
            )
        },
        cloudsight_result::BufferTooSmall
    );
    let mut buf = vec![0u8; needed];
    let mut written = 0usize;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain_encoded(
                engine,
                cloudsight_encoding::JsonLines as u32,
                buf.as_mut_ptr(),
                buf.len(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(written, needed);
    let v: serde_json::Value = serde_json::from_slice(&buf[..written]).unwrap();
    assert_eq!(v["device"]["id"], "rust-side");
    assert_eq!(v["process"]["pid"], 77);
    assert_eq!(v["user"]["name"], "alice");
    assert_eq!(v["bytes_up"], frame.len() as u64);

    let mut stats = cloudsight_stats::default();
    assert_eq!(
        unsafe { cloudsight_engine_stats(engine, &mut stats) },
        cloudsight_result::Ok
    );
    assert_eq!(
        (stats.packets, stats.records, stats.records_queued),
        (1, 1, 0)
    );
    unsafe { cloudsight_engine_free(engine) };
}

/// Feeds one UDP packet 10.0.0.1:5000 -> 10.0.0.2:6000 (raw IPv4, at 1 µs, with `ctx`) to the
/// engine and flushes its flow (at 2 µs); returns the frame.
fn one_udp_flow(engine: *const cloudsight_engine, ctx: *const cloudsight_context) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 6000)
        .write(&mut frame, b"payload")
        .unwrap();
    let mut verdict = cloudsight_verdict::Block;
    assert_eq!(
        unsafe {
            cloudsight_engine_process_packet(
                engine,
                228,
                frame.as_ptr(),
                frame.len(),
                1_000,
                ctx,
                &mut verdict,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(verdict, cloudsight_verdict::Allow);
    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 2_000) },
        cloudsight_result::Ok
    );
    frame
}

/// The community ID of one UDP flow's record through the C API, with these config options.
fn c_community_id(options: u64) -> Result<String, cloudsight_result> {
    use std::ptr::null_mut;
    let mut config = cloudsight_config::default();
    assert_eq!(
        unsafe { cloudsight_config_default(&mut config) },
        cloudsight_result::Ok
    );
    config.options = options;
    let mut engine = null_mut();
    match unsafe { cloudsight_engine_new(&config, &mut engine) } {
        cloudsight_result::Ok => {}
        e => return Err(e),
    }
    one_udp_flow(engine, std::ptr::null());
    let mut record = cloudsight_record::default();
    let mut written = 0usize;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                &mut record,
                1,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(written, 1);
    unsafe { cloudsight_engine_free(engine) };
    // SAFETY: the library NUL-terminates the array.
    let id = unsafe { std::ffi::CStr::from_ptr(record.community_id.as_ptr()) };
    Ok(id.to_str().unwrap().to_owned())
}

#[test]
fn community_id_computed_unless_the_option_skips_it() {
    // Community ID v1 of UDP 10.0.0.1:5000 -> 10.0.0.2:6000, seed 0 (as `zeek-community-id`
    // and Suricata compute it).
    let want = cloudsight::community_id::community_id(
        0,
        17,
        ("10.0.0.1".parse().unwrap(), 5000),
        ("10.0.0.2".parse().unwrap(), 6000),
    );
    assert!(want.starts_with("1:") && want.len() == 30, "{want}");
    assert_eq!(c_community_id(0).as_deref(), Ok(want.as_str()));
    assert_eq!(
        c_community_id(CLOUDSIGHT_CONFIG_SKIP_COMMUNITY_ID).as_deref(),
        Ok("")
    );
    // A bit this library does not know is refused, not ignored.
    assert_eq!(
        c_community_id(1 << 1),
        Err(cloudsight_result::InvalidConfig)
    );
    assert_eq!(
        c_community_id(1 << 63),
        Err(cloudsight_result::InvalidConfig)
    );
}

#[test]
fn result_texts_are_static_and_distinct() {
    let mut seen = BTreeSet::new();
    let text = |code: u32| {
        // SAFETY: cloudsight_result_text returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(cloudsight_result_text(code)) }
            .to_str()
            .unwrap()
    };
    // Codes are numbered from 0 without gaps; 0..=6 exist since the first release.
    let mut code = 0u32;
    while text(code) != "unknown result code" {
        assert!(!text(code).is_empty(), "{code}: empty text");
        assert!(seen.insert(text(code)), "duplicate text {}", text(code));
        code += 1;
        assert!(code < 1000);
    }
    assert!(
        code > cloudsight_result::BufferTooSmall as u32,
        "codes 0..=6 must have texts"
    );
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(cloudsight_result_text(1000)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown result code");
    // SAFETY: cloudsight_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(cloudsight_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

// ---------------------------------------------------------------------------------------------
// Tests: the catalog/policy C program and the C++ example
// ---------------------------------------------------------------------------------------------

/// Compile one more example against `libcloudsight.a` (built by `built()`) with `compiler` (the
/// value of the environment variable `env`, else `default`) and `flags`; returns the executable.
fn compile_example(
    env: &str,
    default: &str,
    flags: &[&str],
    source: &[&str],
    name: &str,
) -> PathBuf {
    built(); // the static library
    let lib = profile_dir().join("libcloudsight.a");
    let out_dir = profile_dir().join("c-api-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let src = source.iter().fold(root(), |p, part| p.join(part));
    let compiler = std::env::var(env).unwrap_or_else(|_| default.into());
    must_succeed(
        &format!("compiling {}", src.display()),
        Command::new(compiler)
            .args(flags)
            .arg("-I")
            .arg(root().join("include"))
            .arg(&src)
            .arg(&lib)
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(&exe),
    );
    exe
}

#[test]
fn c_policy_blocks_unsanctioned_app() {
    let exe = compile_example(
        "CC",
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"],
        &["examples", "c", "policy.c"],
        "policy",
    );
    let out = must_succeed("examples/c/policy.c", &mut Command::new(&exe));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("policy: all checks passed"),
        "policy printed:\n{stdout}"
    );
}

#[test]
fn cpp_discover_matches_c_discover() {
    let exe = compile_example(
        "CXX",
        "c++",
        &[
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
        ],
        &["examples", "cpp", "discover.cpp"],
        "discover_cpp",
    );
    let (le_us, be_ns) = sample_files();
    let mut files = vec![le_us.clone(), be_ns.clone()];
    let bundled = root().join("examples").join("data").join("sample.pcap");
    if is_classic_pcap(&bundled) {
        files.push(bundled);
    }
    for file in &files {
        let c = discover_c(file, &["--threads", "1"]);
        let out = must_succeed("C++ discover", Command::new(&exe).arg(file));
        let cpp = String::from_utf8(out.stdout).expect("UTF-8 output");
        assert!(
            !cpp.is_empty(),
            "{}: C++ discover printed nothing",
            file.display()
        );
        assert_same(
            &format!("{}: C discover vs C++ discover", file.display()),
            &normalized(&c, &["flow_id", "device"]),
            &normalized(&cpp, &["flow_id", "device"]),
        );
    }
    // The C++ error paths: not a pcap, and a missing file.
    let garbage = target_dir().join("test-data").join("cpp-garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
    let out = run(Command::new(&exe).arg(&garbage));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Command::new(&exe).arg(target_dir().join("test-data").join("cpp-missing.pcap")));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A raw IPv4 UDP frame (LINKTYPE 228).
fn udp_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 6000)
        .write(&mut frame, b"payload")
        .unwrap();
    frame
}
