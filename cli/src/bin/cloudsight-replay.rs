//! `cloudsight-replay`: stream a classic pcap file through one engine and report speed and memory, with no
//! other output (benches/compare_ndpi.sh runs it against ndpiReader on the same file).
//!
//! ```text
//! cargo run --release -p cloudsight-cli --bin cloudsight-replay -- [--tick] CAPTURE.pcap
//! ```
//! Frames are read in batches of 4096 into one reused buffer; only the engine calls on a batch are
//! timed (records are drained between batches, as a sensor's drain thread would, and dropped
//! unencoded). Prints one `key=value` line on stdout: packets, engine seconds, packets/s,
//! ns/packet, flows created, peak table, evicted, records, peak RSS (KiB). Memory stays that of
//! the engine: the capture is never held whole.
//!
//! `--tick` calls `Engine::tick` once per second of capture time (idle expiry, as a live sensor).

use std::fs::File;
use std::io::{BufReader, Read};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudsight::{Config, Engine};
use cloudsight_cli::memory::peak_rss_kib;

const BATCH: usize = 4096;

struct Reader {
    inner: BufReader<File>,
    swapped: bool,
    nanos: bool,
    linktype: u32,
}

impl Reader {
    fn open(path: &str) -> Result<Reader, String> {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        let mut inner = BufReader::with_capacity(1 << 20, file);
        let mut h = [0u8; 24];
        inner
            .read_exact(&mut h)
            .map_err(|e| format!("{path}: {e}"))?;
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return Err(format!("{path}: not a classic pcap file (use replicate)")),
        };
        let mut r = Reader {
            inner,
            swapped,
            nanos,
            linktype: 0,
        };
        r.linktype = r.u32(&h[20..24]) & 0xffff;
        Ok(r)
    }

    fn u32(&self, b: &[u8]) -> u32 {
        let v = [b[0], b[1], b[2], b[3]];
        if self.swapped {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    /// Append the next frame's bytes to `buf`; its timestamp, or `None` at the end.
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<u64> {
        let mut h = [0u8; 16];
        self.inner.read_exact(&mut h).ok()?;
        let (sec, frac, caplen) = (self.u32(&h[0..4]), self.u32(&h[4..8]), self.u32(&h[8..12]));
        let ts = u64::from(sec) * 1_000_000_000
            + if self.nanos {
                u64::from(frac)
            } else {
                u64::from(frac) * 1000
            };
        let start = buf.len();
        buf.resize(start + caplen as usize, 0);
        self.inner.read_exact(&mut buf[start..]).ok()?;
        Some(ts)
    }
}

fn main() -> ExitCode {
    let mut tick = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--tick" => tick = true,
            s if s.starts_with('-') => {
                eprintln!("usage: replay [--tick] CAPTURE.pcap");
                return ExitCode::from(2);
            }
            p => path = Some(p.to_owned()),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: replay [--tick] CAPTURE.pcap");
        return ExitCode::from(2);
    };
    let mut reader = match Reader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::from(1);
        }
    };
    // The default engine, with a queue that holds a full table's records: the final flush
    // queues every live flow at once and this single thread drains only afterwards.
    let config = Config::default();
    let engine = Engine::new(Config {
        queue_capacity: config.effective_max_flows(),
        ..config
    })
    .expect("default config");
    let linktype = reader.linktype;
    let mut data = Vec::with_capacity(BATCH * 1600);
    let mut frames: Vec<(usize, usize, u64)> = Vec::with_capacity(BATCH);
    let mut busy = Duration::ZERO;
    let mut packets = 0u64;
    let mut records = 0u64;
    let mut last_tick = 0u64;
    let mut last_ts = 0u64;
    loop {
        data.clear();
        frames.clear();
        while frames.len() < BATCH {
            let start = data.len();
            match reader.next(&mut data) {
                Some(ts) => frames.push((start, data.len(), ts)),
                None => break,
            }
        }
        if frames.is_empty() {
            break;
        }
        let started = Instant::now();
        for &(from, to, ts) in &frames {
            let _ = engine.process_packet_linktype(linktype, &data[from..to], ts, None);
            if tick && ts >= last_tick + 1_000_000_000 {
                engine.tick(ts);
                last_tick = ts;
            }
            last_ts = last_ts.max(ts);
        }
        busy += started.elapsed();
        packets += frames.len() as u64;
        records += engine.drain_with(|_| true) as u64;
    }
    let started = Instant::now();
    engine.flush(last_ts);
    busy += started.elapsed();
    records += engine.drain_with(|_| true) as u64;
    let s = engine.stats();
    let secs = busy.as_secs_f64().max(1e-9);
    println!(
        "packets={packets} engine_s={secs:.4} pps={:.0} ns_per_packet={:.1} flows={} peak_table={} evicted={} records={records} records_dropped={} peak_rss_kib={}",
        packets as f64 / secs,
        secs * 1e9 / packets.max(1) as f64,
        s.flows_created,
        s.flows_peak,
        s.flows_evicted,
        s.records_dropped,
        peak_rss_kib()
    );
    ExitCode::SUCCESS
}
