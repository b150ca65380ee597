//! The `discover` tool as a user runs it: the bundled sample, JSON lines, and clear errors with
//! a non-zero exit for missing, truncated and unknown-format files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn discover() -> PathBuf {
    // Cargo builds the package's binaries for its integration tests.
    PathBuf::from(env!("CARGO_BIN_EXE_discover"))
}

fn run(args: &[&str]) -> Output {
    Command::new(discover())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/sample.pcap")
}

#[test]
fn default_run_prints_the_apps_table() {
    let out = run(&[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for app in ["Slack", "Dropbox", "Google Drive", "MEGA", "Notion"] {
        assert!(text.contains(app), "{app} missing from:\n{text}");
    }
    assert!(
        text.contains("acme-startup.io"),
        "unknown domains are listed"
    );
}

#[test]
fn jsonl_is_one_record_per_line_and_nothing_else() {
    let out = run(&["--format", "jsonl", "--block", "mega"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() >= 20);
    let mega: Vec<_> = records
        .iter()
        .filter(|r| r["app"]["id"] == "mega")
        .collect();
    assert_eq!(mega.len(), 1);
    assert_eq!(mega[0]["verdict"], "block");
    assert_eq!(mega[0]["server_name"], "mega.nz");
}

/// A new temporary directory named after `what`, and the bundled sample cut 10 bytes short
/// (inside its last record) in it.
fn dir_with_cut_sample(what: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("cloudsight-cli-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(sample()).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    (dir, cut)
}

#[test]
fn bad_inputs_fail_with_a_clear_message() {
    let (dir, truncated) = dir_with_cut_sample("bad");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "these are not packets\n").unwrap();
    let cases = [
        (dir.join("missing.pcap"), "cannot open"),
        // Read up to the cut, and still a failure (see the test below).
        (truncated, "truncated"),
        (text, "not a pcap or pcapng file"),
    ];
    for (path, message) in cases {
        let out = run(&[path.to_str().unwrap()]);
        assert!(!out.status.success(), "{} should fail", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(message),
            "{}: stderr was {err}",
            path.display()
        );
    }
    let out = run(&["--block", "no-such-app"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

/// Packets in the JSON-lines records of `stdout`.
fn packets_in(stdout: &[u8]) -> u64 {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| r["packets_up"].as_u64().unwrap() + r["packets_down"].as_u64().unwrap())
        .sum()
}

/// A capture cut inside its last record (tcpdump still writing, a copy cut short) is read up to
/// the cut, as Wireshark and tcpdump read it: the report covers every frame before it, stderr
/// says where it stopped, and the exit status is 1. A capture after it is still read.
#[test]
fn a_capture_cut_inside_a_record_is_read_up_to_the_cut() {
    let (dir, cut) = dir_with_cut_sample("cut");
    let whole = run(&["--format", "jsonl", sample().to_str().unwrap()]);
    assert!(whole.status.success());
    let all = packets_in(&whole.stdout);
    assert!(all > 100, "{all}");
    let (cut, sample) = (cut.to_str().unwrap(), sample());
    for threads in ["1", "2"] {
        let jsonl =
            |files: &[&str]| run(&[&["--threads", threads, "--format", "jsonl"], files].concat());
        let out = jsonl(&[cut]);
        assert_eq!(out.status.code(), Some(1), "threads {threads}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "truncated: the file ends inside a packet record (after {} frames)",
                all - 1
            )),
            "{err}"
        );
        // Every frame but the cut one, each in its flow.
        assert_eq!(packets_in(&out.stdout), all - 1, "threads {threads}");
        // The cut capture, then the whole one: both read.
        let out = jsonl(&[cut, sample.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(packets_in(&out.stdout), 2 * all - 1, "threads {threads}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
