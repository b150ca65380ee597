//! Reading `../shared/corpus` (next to the repository) (captures + Wireshark truth) and running captures through an engine.
//!
//! `CLOUDSIGHT_CORPUS_DIR` points the corpus tests at another directory laid out the same way
//! (`pcap/`, `truth/` made by the corpus's `groundtruth.py`, optionally `categories.tsv` made by
//! `benches/holdout.py categories`), e.g. the holdout of `benches/holdout.sh`. The tests then
//! report their figures and assert only what holds for any set of captures (no panic); the exact
//! expectations of the default corpus apply to the default corpus only ([`is_default_corpus`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use cloudsight::{ActivityRecord, Config, Engine};
use serde_json::Value;

use crate::capture;
use crate::repo_root;

/// The corpus directory, or `None` (with a message) when it is absent outside CI.
pub fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CORPUS_DIR_VAR) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("pcap").is_dir() && dir.join("truth").is_dir(),
            "{CORPUS_DIR_VAR}={} has no pcap/ and truth/ directories",
            dir.display()
        );
        eprintln!("corpus: {} (from {CORPUS_DIR_VAR})", dir.display());
        return Some(dir);
    }
    let dir = repo_root().join("../shared/corpus");
    if dir.join("pcap").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but the corpus is missing at {}", dir.display());
    }
    eprintln!("skipped: corpus not found at {}", dir.display());
    None
}

/// The environment variable naming another corpus directory than `../shared/corpus`.
pub const CORPUS_DIR_VAR: &str = "CLOUDSIGHT_CORPUS_DIR";

/// True unless `CLOUDSIGHT_CORPUS_DIR` points the tests at another directory: the exact
/// expectations of the corpus tests (counts, no miss) hold for the default corpus only.
pub fn is_default_corpus() -> bool {
    std::env::var_os(CORPUS_DIR_VAR).is_none()
}

/// Whether the truth of a capture exists (`groundtruth.py` may have skipped one).
pub fn has_truth(dir: &Path, name: &str) -> bool {
    dir.join("truth")
        .join(format!("{name}.flows.jsonl"))
        .is_file()
}

/// Per-flow categories of `categories.tsv` (`tunnel`, `fragments`, `tso`; tshark's view), keyed
/// by (capture, proto, tshark stream); empty when the file is absent.
pub fn flow_categories(dir: &Path) -> BTreeMap<(String, String, u64), Vec<String>> {
    let Ok(text) = std::fs::read_to_string(dir.join("categories.tsv")) else {
        return BTreeMap::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let stream = c.get(2)?.parse().ok()?;
            let cats = c.get(3)?.split(',').map(str::to_owned).collect();
            Some(((c[0].to_owned(), c[1].to_owned(), stream), cats))
        })
        .collect()
}

/// The categories of a truth flow (see [`flow_categories`]).
pub fn categories_of<'a>(
    cats: &'a BTreeMap<(String, String, u64), Vec<String>>,
    name: &str,
    t: &FlowSummary,
) -> &'a [String] {
    let stream = t.truth["stream"].as_u64().unwrap_or(u64::MAX);
    cats.get(&(name.to_owned(), t.proto.clone(), stream))
        .map_or(&[], Vec::as_slice)
}

/// The capture file names of the corpus, sorted.
pub fn capture_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join("pcap"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// One flow's totals, from the truth or from our records.
#[derive(Debug, Clone, Default)]
pub struct FlowSummary {
    pub proto: String,
    pub client: String,
    pub server: String,
    pub client_bytes: u64,
    pub server_bytes: u64,
    pub client_pkts: u64,
    pub server_pkts: u64,
    /// Order of appearance: truth's first frame, or our first_seen.
    pub order: u64,
    pub truth: Value,
    pub records: Vec<ActivityRecord>,
}

impl FlowSummary {
    pub fn endpoints_key(&self) -> String {
        let (a, b) = if self.client <= self.server {
            (&self.client, &self.server)
        } else {
            (&self.server, &self.client)
        };
        format!("{} {a} {b}", self.proto)
    }

    /// The same flow seen with client and server exchanged.
    pub fn swapped(&self) -> FlowSummary {
        FlowSummary {
            client: self.server.clone(),
            server: self.client.clone(),
            client_bytes: self.server_bytes,
            server_bytes: self.client_bytes,
            client_pkts: self.server_pkts,
            server_pkts: self.client_pkts,
            ..self.clone()
        }
    }

    pub fn same_counts(&self, o: &FlowSummary) -> bool {
        self.client == o.client
            && self.server == o.server
            && self.client_bytes == o.client_bytes
            && self.server_bytes == o.server_bytes
            && self.client_pkts == o.client_pkts
            && self.server_pkts == o.server_pkts
    }
}

impl fmt::Display for FlowSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} up {}B/{}p down {}B/{}p",
            self.proto,
            self.client,
            self.server,
            self.client_bytes,
            self.client_pkts,
            self.server_bytes,
            self.server_pkts
        )
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The truth's flows of one capture.
pub fn truth_flows(dir: &Path, name: &str) -> Vec<FlowSummary> {
    let path = dir.join("truth").join(format!("{name}.flows.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            FlowSummary {
                proto: v["proto"].as_str().unwrap().to_owned(),
                client: v["client"].as_str().unwrap().to_owned(),
                server: v["server"].as_str().unwrap().to_owned(),
                client_bytes: v["client_bytes"].as_u64().unwrap(),
                server_bytes: v["server_bytes"].as_u64().unwrap(),
                client_pkts: v["client_pkts"].as_u64().unwrap(),
                server_pkts: v["server_pkts"].as_u64().unwrap(),
                order: v["first_frame"].as_u64().unwrap(),
                truth: v,
                records: Vec::new(),
            }
        })
        .collect()
}

/// The engine configuration the corpus tests use: the defaults.
pub fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

/// Run one capture through a fresh engine as `discover` does; flows by flow id.
pub fn run_capture(path: &Path) -> BTreeMap<u64, FlowSummary> {
    try_run_capture(path).unwrap()
}

/// [`run_capture`], with the reader's error instead of a panic for captures it cannot read.
pub fn try_run_capture(path: &Path) -> Result<BTreeMap<u64, FlowSummary>, String> {
    let frames = capture::read(path)?;
    let engine = engine();
    let mut last = 0;
    for f in &frames {
        let _ = engine.process_packet_linktype(f.linktype, &f.data, f.ts_ns, None);
        last = last.max(f.ts_ns);
    }
    engine.flush(last);
    let mut flows: BTreeMap<u64, FlowSummary> = BTreeMap::new();
    for r in engine.drain(usize::MAX) {
        let s = flows.entry(r.flow_id).or_default();
        s.proto = format!("{:?}", r.protocol).to_lowercase();
        // The last record has the final orientation.
        s.client = endpoint(r.client_ip, r.client_port);
        s.server = endpoint(r.server_ip, r.server_port);
        s.client_bytes += r.bytes_up;
        s.server_bytes += r.bytes_down;
        s.client_pkts += r.packets_up;
        s.server_pkts += r.packets_down;
        s.order = r.first_seen_ns;
        s.records.push(r);
    }
    Ok(flows)
}
