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

#[test]
fn bad_inputs_fail_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("cloudsight-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(sample()).unwrap();
    let truncated = dir.join("truncated.pcap");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "these are not packets\n").unwrap();
    let cases = [
        (dir.join("missing.pcap"), "cannot open"),
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
