//! `discover`: run captures through one cloudsight engine and report the cloud apps in use.
//!
//! ```text
//! cargo run --release -p cloudsight-cli -- [OPTIONS] [CAPTURE...]
//!   --format table|jsonl|ocsf  discovered-apps table (default), one JSON record per line, or one
//!                          OCSF 1.3.0 Network Activity event per line
//!   --stats                counters and throughput on stderr
//!   --tick                 advance the engine's clock while replaying (idle expiry, linger)
//!   --bench N              replay the captures N times (new addresses each pass), print speed
//!   --catalog FILE         extend the embedded app catalog with FILE (TOML or JSON)
//!   --block APP_ID[,...]   mark apps unsanctioned: their flows get the verdict block
//!   --allow-instances APP=INST[,...]  the organisation's own instances of APP (e.g.
//!                          sharepoint=contoso): flows to any other instance of APP are blocked
//!   --list-apps            print the effective catalog as JSON lines and exit
//!   --usage                print usage rows (per app, instance, user, process, hour) instead of
//!                          records: a table, or one JSON row per line with --format jsonl
//!   --threads N            worker threads feeding the engine (default: the cores but one,
//!                          which the reader thread takes; at least 1)
//! ```
//! Captures are streamed (memory does not grow with their size): a reader thread fills batches
//! of frames, N workers feed the one engine (a flow's packets all on one worker, DNS and IP
//! fragments as ordering points: the records are those of one thread), this thread drains
//! the records after each batch.
//! With no CAPTURE the bundled sample (`examples/data/sample.pcap`, built into the binary) is used.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cloudsight::{ActivityRecord, Config, Device, Engine};
use cloudsight_cli::capture;
use cloudsight_cli::memory::peak_rss_kib;
use cloudsight_cli::reader::{self, Source};
use cloudsight_cli::workers;

/// The bundled sample capture, read when no CAPTURE is given (built in, so that an installed
/// `discover` needs no source tree).
const SAMPLE: &[u8] = include_bytes!("../../../examples/data/sample.pcap");

const USAGE: &str =
    "usage: discover [--format table|jsonl|ocsf] [--stats] [--tick] [--bench N] [--threads N] \
     [--catalog FILE] [--block APP,...] [--allow-instances APP=INST,...] [--list-apps] [--usage] \
     [CAPTURE...]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Jsonl,
    Ocsf,
}

struct Options {
    format: Format,
    allow_instances: Vec<(String, Vec<String>)>,
    usage: bool,
    stats: bool,
    tick: bool,
    bench: Option<u32>,
    catalog: Option<PathBuf>,
    block: Vec<String>,
    list_apps: bool,
    threads: Option<usize>,
    captures: Vec<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        format: Format::Table,
        allow_instances: Vec::new(),
        usage: false,
        stats: false,
        tick: false,
        bench: None,
        catalog: None,
        block: Vec::new(),
        list_apps: false,
        threads: None,
        captures: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => match args.next().as_deref() {
                Some("jsonl") => o.format = Format::Jsonl,
                Some("table") => o.format = Format::Table,
                Some("ocsf") => o.format = Format::Ocsf,
                other => {
                    return Err(format!(
                        "--format takes table, jsonl or ocsf, not {other:?}"
                    ))
                }
            },
            "--stats" => o.stats = true,
            "--tick" => o.tick = true,
            "--bench" => {
                let n = args.next().ok_or("--bench takes a number of passes")?;
                o.bench = Some(
                    n.parse()
                        .map_err(|_| format!("--bench {n}: not a number"))?,
                );
            }
            "--catalog" => {
                o.catalog = Some(PathBuf::from(args.next().ok_or("--catalog takes a file")?));
            }
            "--block" => {
                let ids = args
                    .next()
                    .ok_or("--block takes app ids, comma-separated")?;
                o.block
                    .extend(ids.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
            }
            "--allow-instances" => {
                let spec = args
                    .next()
                    .ok_or("--allow-instances takes APP=INSTANCE[,INSTANCE...]")?;
                let Some((app, list)) = spec.split_once('=') else {
                    return Err(format!(
                        "--allow-instances {spec}: expected APP=INSTANCE[,INSTANCE...]"
                    ));
                };
                let own: Vec<String> = list
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if app.is_empty() || own.is_empty() {
                    return Err(format!(
                        "--allow-instances {spec}: expected APP=INSTANCE[,INSTANCE...]"
                    ));
                }
                o.allow_instances.push((app.to_owned(), own));
            }
            "--list-apps" => o.list_apps = true,
            "--usage" => o.usage = true,
            "--threads" => {
                let n = args.next().ok_or("--threads takes a number of workers")?;
                match n.parse::<usize>() {
                    Ok(n) if n >= 1 => o.threads = Some(n),
                    _ => return Err(format!("--threads {n}: a number of workers, at least 1")),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            path => o.captures.push(PathBuf::from(path)),
        }
    }
    if o.usage && o.format == Format::Ocsf {
        return Err(format!(
            "--usage prints a table or JSON lines, not OCSF\n{USAGE}"
        ));
    }
    Ok(o)
}

pub fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("discover: {e}");
            return ExitCode::from(2);
        }
    };
    // The engine starts with the embedded catalog (parsed once per process); a --catalog file
    // extends it there, so the embedded one is never parsed twice.
    let mut custom = None;
    if let Some(path) = &options.catalog {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("discover: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        };
        let json = path.extension().is_some_and(|x| x == "json");
        let parsed = if json {
            cloudsight::Catalog::from_json(&text)
        } else {
            cloudsight::Catalog::from_toml(&text)
        };
        match parsed {
            Ok(c) => custom = Some(c),
            Err(e) => {
                eprintln!("discover: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    if options.list_apps {
        let mut catalog = cloudsight::Catalog::embedded();
        if let Some(c) = &custom {
            catalog = catalog.extend(c);
        }
        print!("{}", catalog.to_json_lines());
        return ExitCode::SUCCESS;
    }
    let defaults = Config::default();
    let config = Config {
        device: Device {
            id: "discover".into(),
            name: hostname(),
        },
        // Usage rows are aggregated only when they are printed (`--usage`): otherwise the
        // engine would fold every record into rows nobody drains.
        usage_window_ns: if options.usage {
            defaults.usage_window_ns
        } else {
            0
        },
        // Community IDs are printed only with the records (jsonl, ocsf); the tables and usage
        // rows never show them.
        skip_community_id: matches!(options.format, Format::Table) || options.usage,
        ..defaults
    };
    let engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("discover: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(c) = &custom {
        engine.extend_catalog(c);
    }
    let catalog = engine.catalog();
    let mut policy = cloudsight::Policy::new();
    for id in &options.block {
        if catalog.app(id).is_none() {
            eprintln!("discover: --block {id}: no such app in the catalog (see --list-apps)");
            return ExitCode::from(2);
        }
        policy.set_app(id, cloudsight::Sanction::Unsanctioned);
    }
    for (id, own) in &options.allow_instances {
        if catalog.app(id).is_none() {
            eprintln!(
                "discover: --allow-instances {id}: no such app in the catalog (see --list-apps)"
            );
            return ExitCode::from(2);
        }
        policy.set_app_instances(id, own, cloudsight::Sanction::Unsanctioned);
    }
    engine.set_policy(policy);
    if let Some(passes) = options.bench {
        // The bench replays the captures N times: it holds them in memory.
        let mut frames = Vec::new();
        let bundled = (options.captures.is_empty())
            .then(|| capture::read_from("examples/data/sample.pcap", SAMPLE));
        let reads = bundled
            .into_iter()
            .chain(options.captures.iter().map(|path| capture::read(path)));
        for read in reads {
            match read {
                Ok(mut f) => frames.append(&mut f),
                Err(e) => {
                    eprintln!("discover: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        bench(&engine, &mut frames, passes);
        return ExitCode::SUCCESS;
    }

    // Streamed: a reader thread fills batches, workers feed the engine, this thread drains the
    // records after each batch and writes them out (JSON lines) or adds them up (the table).
    let sources = if options.captures.is_empty() {
        vec![Source::Bytes("examples/data/sample.pcap", SAMPLE)]
    } else {
        options.captures.iter().cloned().map(Source::File).collect()
    };
    let total_bytes: u64 = options
        .captures
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    // A progress bar for large captures, only when a person watches stderr.
    let progress = (total_bytes >= 100 << 20 && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut table = Tables::default();
    let mut buf = Vec::new();
    let mut written: std::io::Result<()> = Ok(());
    let device = engine.config().device.clone();
    let mut take_records = |engine: &Engine| {
        engine.drain_with(|r| {
            if options.usage {
                // --usage: the engine aggregates the records itself; they are only drained here.
            } else if options.format != Format::Table {
                if options.format == Format::Ocsf {
                    cloudsight::ocsf::write_ocsf_line(&device, r, &mut buf);
                } else {
                    cloudsight::encode::write_json_line(&device, r, &mut buf);
                }
                // Out in pieces: a final flush drains a whole table at once.
                if buf.len() >= 1 << 20 {
                    if written.is_ok() {
                        written = out.write_all(&buf);
                    }
                    buf.clear();
                }
            } else {
                table.add(r);
            }
            true
        });
        if !buf.is_empty() && written.is_ok() {
            written = out.write_all(&buf);
        }
        buf.clear();
    };
    // Every core: one for the reader thread, the others for workers (at least one).
    let threads = options.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .saturating_sub(1)
            .max(1)
    });
    let started = Instant::now();
    let stream = reader::spawn(sources);
    let run = workers::run(&engine, stream, threads, options.tick, |position| {
        if let Some(bar) = &progress {
            bar.set_position(position);
        }
        take_records(&engine);
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            eprintln!("discover: {e}");
            return ExitCode::from(1);
        }
    };
    engine.flush(run.last_ts);
    let elapsed = started.elapsed();
    take_records(&engine);
    if !run.unknown_link.is_empty() {
        eprintln!(
            "discover: skipped frames of unsupported link types {:?}",
            run.unknown_link
        );
    }
    // A capture cut inside a record (still being written, or copied short) is read up to the
    // cut, as Wireshark and tcpdump read it; the report covers those frames and the exit status
    // says the input was damaged.
    for cut in &run.cut_short {
        eprintln!("discover: {cut}: reading stopped there; the report covers the frames before");
    }

    if options.usage && written.is_ok() {
        written = write_usage(&mut out, &engine, options.format);
    } else if options.format == Format::Table && written.is_ok() {
        written = table.print(&mut out);
    }
    if let Err(e) = written.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("discover: cannot write output: {e}");
            return ExitCode::from(1);
        }
    }
    if options.stats {
        let s = engine.stats();
        eprintln!("{s:#?}");
        let secs = elapsed.as_secs_f64();
        eprintln!(
            "{} frames in {:.3} s: {:.0} packets/s",
            run.frames,
            secs,
            run.frames as f64 / secs.max(1e-9)
        );
    }
    if run.cut_short.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

#[derive(Default)]
struct Row {
    category: String,
    risk: Option<u8>,
    flows: u64,
    up: u64,
    down: u64,
    clients: Clients,
    first: u64,
    last: u64,
    verdict: &'static str,
}

/// A row's distinct client addresses, IPv4 apart as 4-byte keys: a flood's rows hold one entry per
/// source address, and keys a quarter the size of an `IpAddr` keep that set in cache.
#[derive(Default)]
struct Clients {
    v4: HashSet<u32, Fast>,
    v6: HashSet<u128, Fast>,
}

impl Clients {
    fn insert(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.v4.insert(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.insert(u128::from(v6)),
        };
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// foldhash, as the library's tables: the report adds up every record (a flood's too), so its
/// maps cost a hash per record, not a tree walk of string or address comparisons.
type Fast = foldhash::fast::RandomState;

/// The row of `key`, made (with `owned()`) only when it is new: a record of a known row
/// allocates nothing.
fn row<'a, K, Q>(
    rows: &'a mut HashMap<K, Row, Fast>,
    key: &Q,
    owned: impl FnOnce() -> K,
) -> &'a mut Row
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if !rows.contains_key(key) {
        rows.insert(
            owned(),
            Row {
                first: u64::MAX,
                ..Row::default()
            },
        );
    }
    rows.get_mut(key).expect("inserted above")
}

fn add(row: &mut Row, r: &ActivityRecord) {
    if r.event == cloudsight::Event::Close {
        row.flows += 1;
    }
    row.up += r.bytes_up;
    row.down += r.bytes_down;
    row.clients.insert(r.client_ip);
    row.first = row.first.min(r.first_seen_ns);
    row.last = row.last.max(r.last_seen_ns);
    if let Some(app) = &r.app {
        if row.category != app.category {
            row.category.clone_from(&app.category);
        }
        row.risk = Some(app.risk);
    }
    row.verdict = match r.verdict {
        cloudsight::Verdict::Allow => "allow",
        cloudsight::Verdict::Monitor => "monitor",
        cloudsight::Verdict::Block => "block",
    };
}

fn time(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn print_rows(
    out: &mut impl Write,
    title: &str,
    mut rows: Vec<(String, Row)>,
) -> std::io::Result<()> {
    rows.sort_by(|a, b| {
        (b.1.up + b.1.down)
            .cmp(&(a.1.up + a.1.down))
            .then(a.0.cmp(&b.0))
    });
    writeln!(
        out,
        "{title:<34} {:<20} {:>4} {:>6} {:>10} {:>10} {:>7}  {:<19}  {:<19}  verdict",
        "category", "risk", "flows", "up", "down", "clients", "first seen", "last seen"
    )?;
    for (name, r) in rows {
        let name: String = name.chars().take(34).collect();
        writeln!(
            out,
            "{name:<34} {:<20} {:>4} {:>6} {:>10} {:>10} {:>7}  {}  {}  {}",
            if r.category.is_empty() {
                "-"
            } else {
                &r.category
            },
            r.risk.map_or("-".into(), |x| x.to_string()),
            r.flows,
            bytes(r.up),
            bytes(r.down),
            r.clients.len(),
            time(r.first),
            time(r.last),
            r.verdict
        )?;
    }
    Ok(())
}

/// The cloud-discovery dashboard, added up record by record: apps, then names no catalog knows,
/// then unnamed traffic by server address.
#[derive(Default)]
struct Tables {
    apps: HashMap<String, Row, Fast>,
    unknown: HashMap<String, Row, Fast>,
    /// By server address and transport (named "addr (tcp)" when printed).
    unnamed: HashMap<(IpAddr, cloudsight::Transport), Row, Fast>,
}

impl Tables {
    fn add(&mut self, r: &ActivityRecord) {
        let row = if let Some(app) = &r.app {
            row(&mut self.apps, app.name.as_str(), || app.name.clone())
        } else if let Some(name) = r.registrable_domain.as_ref().or(r.server_name.as_ref()) {
            row(&mut self.unknown, name.as_str(), || name.clone())
        } else {
            let key = (r.server_ip, r.protocol);
            row(&mut self.unnamed, &key, || key)
        };
        add(row, r);
    }

    fn print(self, out: &mut impl Write) -> std::io::Result<()> {
        print_rows(out, "app", self.apps.into_iter().collect())?;
        writeln!(out)?;
        print_rows(out, "unknown domain", self.unknown.into_iter().collect())?;
        writeln!(out)?;
        let unnamed = self.unnamed.into_iter();
        let unnamed =
            unnamed.map(|((ip, proto), row)| (format!("{ip} ({proto:?})").to_lowercase(), row));
        print_rows(out, "unnamed server", unnamed.collect())
    }
}

/// Replay the frames `passes` times with addresses changed per pass (so every pass makes new
/// flows) and time shifted; report speed and memory on stderr.
fn bench(engine: &Engine, frames: &mut [capture::Frame], passes: u32) {
    let span = frames.iter().map(|f| f.ts_ns).max().unwrap_or(0)
        - frames.iter().map(|f| f.ts_ns).min().unwrap_or(0)
        + 1_000_000_000;
    // Two bytes of each address: (offset, original value) of the higher and the lower byte.
    type Orig = [(usize, u8); 2];
    let offsets: Vec<Option<(Orig, Orig)>> = frames
        .iter()
        .map(|f| {
            address_offsets(f).map(|(s, d)| {
                (
                    [(s - 1, f.data[s - 1]), (s, f.data[s])],
                    [(d - 1, f.data[d - 1]), (d, f.data[d])],
                )
            })
        })
        .collect();
    let mut total = std::time::Duration::ZERO;
    let mut packets = 0u64;
    for pass in 0..passes {
        for (frame, offs) in frames.iter_mut().zip(&offsets) {
            if let Some((src, dst)) = offs {
                // Add the pass number to a 16-bit field of both addresses: flows stay consistent
                // within a pass and differ between passes (65536 passes before addresses repeat).
                for [(hi, hi_orig), (lo, lo_orig)] in [src, dst] {
                    let v = u16::from_be_bytes([*hi_orig, *lo_orig]).wrapping_add(pass as u16);
                    frame.data[*hi] = (v >> 8) as u8;
                    frame.data[*lo] = v as u8;
                }
            }
        }
        let shift = u64::from(pass) * span;
        let start = Instant::now();
        for frame in frames.iter() {
            let _ = engine.process_packet_linktype(
                frame.linktype,
                &frame.data,
                frame.ts_ns + shift,
                None,
            );
        }
        total += start.elapsed();
        packets += frames.len() as u64;
        // Keep the queue from overflowing between passes; not timed.
        engine.drain(usize::MAX);
    }
    let s = engine.stats();
    let secs = total.as_secs_f64().max(1e-9);
    eprintln!(
        "bench: {passes} passes, {packets} packets in {secs:.3} s: {:.0} packets/s, {:.1} ns/packet",
        packets as f64 / secs,
        secs * 1e9 / packets.max(1) as f64
    );
    eprintln!(
        "bench: flows created {}, peak table {}, evicted {}, peak RSS {} KiB",
        s.flows_created,
        s.flows_peak,
        s.flows_evicted,
        peak_rss_kib()
    );
}

/// Offsets of one byte inside the source and destination addresses of the IP header, if any.
fn address_offsets(frame: &capture::Frame) -> Option<(usize, usize)> {
    let ip_start = match frame.linktype {
        1 => {
            let mut at = 14;
            let mut ethertype = u16::from_be_bytes([*frame.data.get(12)?, *frame.data.get(13)?]);
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                ethertype =
                    u16::from_be_bytes([*frame.data.get(at + 2)?, *frame.data.get(at + 3)?]);
                at += 4;
            }
            at
        }
        101 | 228 | 229 => 0,
        0 | 108 => 4,
        113 => 16,
        276 => 20,
        _ => return None,
    };
    match frame.data.get(ip_start)? >> 4 {
        4 if frame.data.len() >= ip_start + 20 => Some((ip_start + 14, ip_start + 18)),
        6 if frame.data.len() >= ip_start + 40 => Some((ip_start + 22, ip_start + 38)),
        _ => None,
    }
}

/// `--usage`: the engine's usage rows (every window closed by the flush), as JSON lines or a table.
fn write_usage(out: &mut impl Write, engine: &Engine, format: Format) -> std::io::Result<()> {
    let rows = engine.drain_usage(usize::MAX);
    if format != Format::Table {
        let mut buf = Vec::new();
        for r in &rows {
            cloudsight::encode::write_usage_json_line(&engine.config().device, r, &mut buf);
        }
        return out.write_all(&buf);
    }
    writeln!(
        out,
        "{:<20} {:<24} {:<16} {:<12} {:>6} {:>7} {:>12} {:>12}",
        "WINDOW START (s)",
        "APP / DOMAIN",
        "INSTANCE",
        "USER",
        "FLOWS",
        "BLOCKED",
        "BYTES UP",
        "BYTES DOWN"
    )?;
    for r in &rows {
        let name = r
            .app
            .as_ref()
            .map(|a| a.name.as_str())
            .or(r.registrable_domain.as_deref())
            .unwrap_or("(unnamed)");
        writeln!(
            out,
            "{:<20} {:<24} {:<16} {:<12} {:>6} {:>7} {:>12} {:>12}",
            r.window_start_ns / 1_000_000_000,
            name,
            r.instance.as_deref().unwrap_or("-"),
            r.user_name.as_deref().unwrap_or("-"),
            r.flows,
            r.blocked_flows,
            r.bytes_up,
            r.bytes_down
        )?;
    }
    Ok(())
}
