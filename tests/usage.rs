//! Usage reports over real captures: rows add up exactly to the records (README "Usage reports"),
//! their JSON and bincode forms round-trip, and the C drain gives the same rows as the Rust one.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;
use std::path::Path;

use cloudsight::capi::*;
use cloudsight::{
    decode_usage_batch, encode_usage_batch, ActivityRecord, Config, Engine, JsonUsageRow, Sanction,
    UsageRow, Verdict,
};
use cloudsight_testkit::{capture, corpus, repo_root};

const SECOND: u64 = 1_000_000_000;

/// Replay `path` into `engine` with a tick every second of capture time and a final flush:
/// the records, and the usage rows drained along the way.
fn replay(engine: &Engine, path: &Path) -> (Vec<ActivityRecord>, Vec<UsageRow>) {
    let frames = capture::read(path).unwrap();
    let (mut records, mut rows) = (Vec::new(), Vec::new());
    let mut next_tick = 0;
    let mut last = 0;
    for f in &frames {
        let _ = engine.process_packet_linktype(f.linktype, &f.data, f.ts_ns, None);
        last = last.max(f.ts_ns);
        if last >= next_tick {
            engine.tick(last);
            next_tick = last + SECOND;
            records.extend(engine.drain(usize::MAX));
            rows.extend(engine.drain_usage(usize::MAX));
        }
    }
    engine.flush(last);
    records.extend(engine.drain(usize::MAX));
    rows.extend(engine.drain_usage(usize::MAX));
    assert_eq!(engine.stats().records_dropped, 0);
    (records, rows)
}

/// Row key without the window: app id or domain, instance, user, process.
type Key = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn record_key(r: &ActivityRecord) -> Key {
    (
        r.app
            .as_ref()
            .map(|a| a.id.clone())
            .or_else(|| r.registrable_domain.clone()),
        r.instance.clone(),
        r.user.as_ref().and_then(|u| u.name.clone()),
        r.process.as_ref().and_then(|p| p.path.clone()),
    )
}

fn row_key(r: &UsageRow) -> Key {
    (
        r.app
            .as_ref()
            .map(|a| a.id.clone())
            .or_else(|| r.registrable_domain.clone()),
        r.instance.clone(),
        r.user_name.clone(),
        r.process_path.clone(),
    )
}

/// Per key: bytes up, bytes down, packets up, packets down, flows, blocked flows.
type Sums = BTreeMap<Key, [u64; 6]>;

/// What the rows must hold, from the records: a flow counts once per key per window.
fn sums_of_records(records: &[ActivityRecord], window: u64) -> Sums {
    let mut sums = Sums::new();
    let mut seen = BTreeSet::new();
    for r in records {
        let key = record_key(r);
        let s = sums.entry(key.clone()).or_default();
        s[0] += r.bytes_up;
        s[1] += r.bytes_down;
        s[2] += r.packets_up;
        s[3] += r.packets_down;
        if seen.insert((key, r.last_seen_ns / window, r.flow_id)) {
            s[4] += 1;
            s[5] += u64::from(r.verdict == Verdict::Block);
        }
    }
    sums
}

fn sums_of_rows(rows: &[UsageRow]) -> Sums {
    let mut sums = Sums::new();
    for r in rows {
        let s = sums.entry(row_key(r)).or_default();
        for (i, v) in [
            r.bytes_up,
            r.bytes_down,
            r.packets_up,
            r.packets_down,
            r.flows,
            r.blocked_flows,
        ]
        .into_iter()
        .enumerate()
        {
            s[i] += v;
        }
    }
    sums
}

fn check_capture(path: &Path, window: u64) -> (usize, usize) {
    let engine = Engine::new(Config {
        usage_window_ns: window,
        ..Config::default()
    })
    .unwrap();
    let (records, rows) = replay(&engine, path);
    assert_eq!(
        sums_of_rows(&rows),
        sums_of_records(&records, window),
        "{}: usage rows do not add up to the records (window {window} ns)",
        path.display()
    );
    let stats = engine.stats();
    assert_eq!(stats.usage_rows, rows.len() as u64);
    assert_eq!(stats.usage_rows_folded, 0);
    for r in &rows {
        assert!(r.window_start_ns <= r.first_seen_ns && r.first_seen_ns <= r.last_seen_ns);
        assert!(r.last_seen_ns < r.window_end_ns);
        assert_eq!(r.window_end_ns - r.window_start_ns, window);
        assert!(r.client_ip.is_some());
    }
    (records.len(), rows.len())
}

fn sample() -> std::path::PathBuf {
    repo_root().join("examples/data/sample.pcap")
}

#[test]
fn sample_capture_rows_add_up_to_the_records() {
    for window in [3600 * SECOND, 10 * SECOND, SECOND] {
        let (records, rows) = check_capture(&sample(), window);
        assert!(records > 0 && rows > 0, "the sample makes records and rows");
    }
}

#[test]
fn a_tiny_row_cap_folds_into_one_overflow_row_per_window_and_keeps_the_sums() {
    let engine = Engine::new(Config {
        max_usage_rows: 1,
        ..Config::default()
    })
    .unwrap();
    let (records, rows) = replay(&engine, &sample());
    let windows: BTreeSet<u64> = rows.iter().map(|r| r.window_start_ns).collect();
    let overflow = rows.iter().filter(|r| r.is_overflow()).count();
    assert!(overflow >= 1 && overflow <= windows.len());
    assert!(engine.stats().usage_rows_folded > 0);
    let total = |f: fn(&UsageRow) -> u64| rows.iter().map(f).sum::<u64>();
    assert_eq!(
        total(|r| r.bytes_up),
        records.iter().map(|r| r.bytes_up).sum::<u64>()
    );
    assert_eq!(
        total(|r| r.bytes_down),
        records.iter().map(|r| r.bytes_down).sum::<u64>()
    );
    assert_eq!(
        total(|r| r.packets_up + r.packets_down),
        records
            .iter()
            .map(|r| r.packets_up + r.packets_down)
            .sum::<u64>()
    );
}

/// The admin's review of the sample's apps: one blocked, one watched, one approved, one unknown
/// domain blocked; the rest unreviewed.
const REVIEW: [(&str, Sanction); 3] = [
    ("slack", Sanction::Unsanctioned),
    ("dropbox", Sanction::Monitored),
    ("notion", Sanction::Sanctioned),
];
const BLOCKED_DOMAIN: &str = "evilslack.com";

fn reviewed_engine() -> Engine {
    let engine = Engine::new(Config::default()).unwrap();
    for (app, sanction) in REVIEW {
        engine.set_app_sanction(app, sanction).unwrap();
    }
    engine.set_domain_sanction(BLOCKED_DOMAIN, Sanction::Unsanctioned);
    engine
}

/// The tag a row of the reviewed sample must carry.
fn expected_tag(r: &UsageRow) -> Option<&'static str> {
    let id = r.app.as_ref().map(|a| a.id.as_str());
    if let Some((_, s)) = REVIEW.iter().find(|(app, _)| Some(*app) == id) {
        return Some(s.as_str());
    }
    (id.is_none() && r.registrable_domain.as_deref() == Some(BLOCKED_DOMAIN))
        .then_some("unsanctioned")
}

#[test]
fn rows_carry_the_admins_sanction_as_app_tags() {
    let (_, rows) = replay(&reviewed_engine(), &sample());
    let mut seen = BTreeSet::new();
    for r in &rows {
        let want = expected_tag(r);
        assert_eq!(
            r.app_tags.iter().map(String::as_str).collect::<Vec<_>>(),
            want.into_iter().collect::<Vec<_>>(),
            "{:?} {:?}",
            r.app.as_ref().map(|a| &a.id),
            r.registrable_domain
        );
        if want == Some("unsanctioned") {
            assert_eq!(
                r.blocked_flows, r.flows,
                "an unsanctioned row's flows are all blocked"
            );
        }
        seen.extend(want);
    }
    assert_eq!(
        seen,
        BTreeSet::from(["monitored", "sanctioned", "unsanctioned"]),
        "every reviewed kind occurs in the sample"
    );
}

#[test]
fn sample_rows_round_trip_through_json_and_bincode() {
    let engine = Engine::new(Config::default()).unwrap();
    let (_, rows) = replay(&engine, &sample());
    let device = engine.config().device.clone();
    let bytes = encode_usage_batch(&device, &rows);
    let (d, back) = decode_usage_batch(&bytes).unwrap();
    assert_eq!(d, device);
    assert_eq!(back, rows);
    for r in &rows {
        let line = serde_json::to_string(&JsonUsageRow {
            row: r,
            device: &device,
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("device").is_some() && v.get("bytes_up").is_some());
        let back: UsageRow = serde_json::from_value(v).unwrap();
        assert_eq!(&back, r);
    }
}

fn text(field: &[std::ffi::c_char]) -> String {
    // SAFETY: the library NUL-terminates every text field.
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_c_drain_gives_the_same_rows() {
    let rust = reviewed_engine();
    let (_, rows) = replay(&rust, &sample());

    let mut engine = std::ptr::null_mut();
    // SAFETY: NULL config (defaults), `engine` writable.
    let r = unsafe { cloudsight_engine_new(std::ptr::null(), &mut engine) };
    assert_eq!(r, cloudsight_result::Ok);
    for (app, sanction) in REVIEW {
        let app = std::ffi::CString::new(app).unwrap();
        // SAFETY: a live engine, a NUL-terminated id.
        let r = unsafe { cloudsight_engine_set_policy(engine, app.as_ptr(), sanction as u32) };
        assert_eq!(r, cloudsight_result::Ok);
    }
    let domain = std::ffi::CString::new(BLOCKED_DOMAIN).unwrap();
    // SAFETY: a live engine, a NUL-terminated domain.
    let r = unsafe {
        cloudsight_engine_set_domain_policy(engine, domain.as_ptr(), Sanction::Unsanctioned as u32)
    };
    assert_eq!(r, cloudsight_result::Ok);
    let frames = capture::read(&sample()).unwrap();
    let (mut next_tick, mut last) = (0, 0);
    let mut c_rows = Vec::new();
    let drain = |c_rows: &mut Vec<cloudsight_usage_row>| loop {
        let mut buf = [cloudsight_usage_row::default(); 3];
        let mut n = 0;
        let size = std::mem::size_of::<cloudsight_usage_row>();
        // SAFETY: `buf` holds 3 rows of `size` bytes; `n` writable.
        let r = unsafe { cloudsight_engine_drain_usage(engine, buf.as_mut_ptr(), 3, size, &mut n) };
        assert_eq!(r, cloudsight_result::Ok);
        c_rows.extend_from_slice(&buf[..n]);
        if n < 3 {
            break;
        }
    };
    for f in &frames {
        let mut verdict = cloudsight_verdict::Allow;
        // SAFETY: a live engine, the frame's bytes, no context.
        unsafe {
            cloudsight_engine_process_packet(
                engine,
                f.linktype,
                f.data.as_ptr(),
                f.data.len(),
                f.ts_ns,
                std::ptr::null(),
                &mut verdict,
            )
        };
        last = last.max(f.ts_ns);
        if last >= next_tick {
            // SAFETY: a live engine.
            unsafe { cloudsight_engine_tick(engine, last) };
            next_tick = last + SECOND;
            drain(&mut c_rows);
        }
    }
    // SAFETY: a live engine.
    unsafe { cloudsight_engine_flush(engine, last) };
    drain(&mut c_rows);
    // SAFETY: from cloudsight_engine_new, freed once.
    unsafe { cloudsight_engine_free(engine) };

    // Two engines end their flows in their own (seeded hash) order: compare rows by key.
    assert_eq!(c_rows.len(), rows.len());
    let mut rows = rows;
    rows.sort_by_key(|r| (r.window_start_ns, row_key(r)));
    c_rows.sort_by_key(|c| {
        let opt = |t: String| (!t.is_empty()).then_some(t);
        let id = opt(text(&c.app_id)).or_else(|| opt(text(&c.registrable_domain)));
        let key: Key = (
            id,
            opt(text(&c.instance)),
            opt(text(&c.user_name)),
            opt(text(&c.process_path)),
        );
        (c.window_start_ns, key)
    });
    for (c, r) in c_rows.iter().zip(&rows) {
        assert_eq!(
            c.struct_size as usize,
            std::mem::size_of::<cloudsight_usage_row>()
        );
        assert_eq!(c.truncated, 0);
        assert_eq!(
            (
                c.window_start_ns,
                c.window_end_ns,
                c.first_seen_ns,
                c.last_seen_ns
            ),
            (
                r.window_start_ns,
                r.window_end_ns,
                r.first_seen_ns,
                r.last_seen_ns
            )
        );
        assert_eq!(
            (
                c.flows,
                c.blocked_flows,
                c.bytes_up,
                c.bytes_down,
                c.packets_up,
                c.packets_down
            ),
            (
                r.flows,
                r.blocked_flows,
                r.bytes_up,
                r.bytes_down,
                r.packets_up,
                r.packets_down
            )
        );
        assert_eq!(c.has_app == 1, r.app.is_some());
        assert_eq!(
            text(&c.app_id),
            r.app.as_ref().map(|a| a.id.clone()).unwrap_or_default()
        );
        assert_eq!(c.app_risk, r.app.as_ref().map_or(0, |a| a.risk));
        if r.app.is_none() {
            assert_eq!(
                text(&c.registrable_domain),
                r.registrable_domain.clone().unwrap_or_default()
            );
        }
        assert_eq!(text(&c.instance), r.instance.clone().unwrap_or_default());
        let sanction = expected_tag(r).map(|t| t.parse::<Sanction>().unwrap() as u8);
        assert_eq!((c.has_sanction == 1).then_some(c.sanction), sanction);
        // The client address is the first record's: the same family in a one-host capture.
        assert!(c.client_ip.family == 4 || c.client_ip.family == 6);
    }
}

#[test]
fn corpus_rows_add_up_to_the_records() {
    let Some(dir) = corpus::corpus_dir() else {
        return;
    };
    let mut captures = 0;
    for name in corpus::capture_names(&dir) {
        check_capture(&dir.join("pcap").join(&name), 3600 * SECOND);
        check_capture(&dir.join("pcap").join(&name), 10 * SECOND);
        captures += 1;
    }
    eprintln!("usage rows add up to the records in {captures} corpus captures");
}
