//! Naming against the Wireshark ground truth of `../shared/corpus`: for every flow whose truth has
//! a TLS SNI, a QUIC SNI, an HTTP Host or a DNS name, the record carries exactly that name with the
//! right `name_source` (the evaluation rule: SNI first, then HTTP Host, then DNS). Skips with a
//! message when the corpus is absent, unless `CI` is set.
//!
//! With `CLOUDSIGHT_CORPUS_DIR` set (see `tests/corpus_flows.rs`) it reports the same figures,
//! per category of `categories.tsv` too, and asserts only on the default corpus.

use std::collections::BTreeMap;

use cloudsight_testkit::corpus::{
    capture_names, categories_of, corpus_dir, flow_categories, has_truth, is_default_corpus,
    truth_flows, try_run_capture, FlowSummary,
};
use serde_json::Value;

/// The name and source the truth expects for a flow, if any.
fn expected(truth: &Value) -> Option<(&'static str, String)> {
    let text = |k: &str| {
        truth[k]
            .as_str()
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase())
    };
    if let Some(sni) = text("sni") {
        let source = if truth["quic"] == true {
            "quic_sni"
        } else {
            "tls_sni"
        };
        return Some((source, sni));
    }
    if let Some(host) = text("http_host") {
        // Records carry the host without its port (IPv6 literals without brackets).
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6).to_owned(),
            None => host.rsplit_once(':').map_or(host.clone(), |(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h.to_owned()
                } else {
                    host.clone()
                }
            }),
        };
        return Some(("http_host", host));
    }
    text("dns_name").map(|n| ("dns", n))
}

#[test]
fn names_match_wireshark_truth() {
    let Some(dir) = corpus_dir() else { return };
    let mut per_source: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let names = capture_names(&dir);
    let cats = flow_categories(&dir);
    let mut per_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for name in &names {
        if !has_truth(&dir, name) {
            continue;
        }
        let truth = truth_flows(&dir, name);
        let ours = try_run_capture(&dir.join("pcap").join(name)).unwrap_or_default();
        let mut by_key: BTreeMap<String, Vec<&FlowSummary>> = BTreeMap::new();
        for o in ours.values() {
            by_key.entry(o.endpoints_key()).or_default().push(o);
        }
        for list in by_key.values_mut() {
            list.sort_by_key(|f| f.order);
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut truth_sorted: Vec<_> = truth.iter().collect();
        truth_sorted.sort_by_key(|t| t.order);
        for t in truth_sorted {
            let key = t.endpoints_key();
            let index = seen.entry(key.clone()).or_default();
            let ours = by_key.get(&key).and_then(|l| l.get(*index)).copied();
            *index += 1;
            let Some((source, want)) = expected(&t.truth) else {
                continue;
            };
            let entry = per_source.entry(source).or_default();
            entry.1 += 1;
            let last = ours.and_then(|o| o.records.last());
            let got_name = last.and_then(|r| r.server_name.clone());
            let got_source = last.and_then(|r| r.name_source).map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            });
            let good =
                got_name.as_deref() == Some(want.as_str()) && got_source.as_deref() == Some(source);
            for c in categories_of(&cats, name, t) {
                let e = per_category.entry(c.clone()).or_default();
                e.0 += usize::from(good);
                e.1 += 1;
            }
            if good {
                entry.0 += 1;
            } else {
                misses.push(format!(
                    "{name}: {key}: want {source} {want}, got {got_source:?} {got_name:?}"
                ));
            }
        }
    }
    let (mut hit, mut all) = (0, 0);
    for (source, (h, n)) in &per_source {
        eprintln!(
            "{source:>10}: {h}/{n} ({:.1}%)",
            *h as f64 * 100.0 / (*n).max(1) as f64
        );
        hit += h;
        all += n;
    }
    eprintln!(
        "named: {hit}/{all} ({:.2}%)",
        hit as f64 * 100.0 / all.max(1) as f64
    );
    for (category, (h, n)) in &per_category {
        eprintln!(
            "named {category:>10}: {h}/{n} ({:.1}%)",
            *h as f64 * 100.0 / (*n).max(1) as f64
        );
    }
    for m in &misses {
        eprintln!("miss: {m}");
    }
    eprintln!(
        "summary: named {:.2}% ({hit}/{all}){}{}",
        hit as f64 * 100.0 / all.max(1) as f64,
        per_source
            .iter()
            .map(|(s, (h, n))| format!(
                ", {s} {:.2}% ({h}/{n})",
                *h as f64 * 100.0 / (*n).max(1) as f64
            ))
            .collect::<String>(),
        per_category
            .iter()
            .map(|(c, (h, n))| format!(
                ", {c} {:.2}% ({h}/{n})",
                *h as f64 * 100.0 / (*n).max(1) as f64
            ))
            .collect::<String>()
    );
    if !is_default_corpus() {
        return;
    }
    assert!(
        all > 300,
        "the corpus should have over 300 named flows, found {all}"
    );
    // arkime_socks5-http-302-frag.pcap carries its HTTP request in IPv4 fragments: named since
    // fragments are reassembled before inspection.
    let unexplained: Vec<_> = misses.iter().collect();
    assert!(
        unexplained.is_empty(),
        "{} flows misnamed: {unexplained:#?}",
        unexplained.len()
    );
}
