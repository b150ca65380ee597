//! Instance policy through the C ABI and the Rust API: the organisation's own SharePoint tenant
//! is allowed and every other tenant blocked from the packet that names the flow on; the record
//! carries the instance in every form.
#![allow(unused_unsafe)] // calls to the C exports are wrapped one by one

use std::ffi::{c_char, CStr};
use std::ptr;

use cloudsight::capi::*;
use cloudsight::{Engine, Sanction};
use cloudsight_testkit::packet::{Tcp, ACK, SYN};
use cloudsight_testkit::sample;

fn tcp(port: u16, from_client: bool, flags: &str, payload: &[u8]) -> Vec<u8> {
    let flags =
        if flags.contains('S') { SYN } else { 0 } | if flags.contains('A') { ACK } else { 0 };
    Tcp::new(([10, 0, 0, 5], port), ([198, 51, 100, 7], 443))
        .up(from_client)
        .seq(if from_client { 100 } else { 900 })
        .frame(flags, payload)
}

fn feed(engine: *const cloudsight_engine, frame: &[u8], ts: u64) -> cloudsight_verdict {
    let mut verdict = cloudsight_verdict::Allow;
    let r = unsafe {
        cloudsight_engine_process_packet(
            engine,
            101,
            frame.as_ptr(),
            frame.len(),
            ts,
            ptr::null(),
            &mut verdict,
        )
    };
    assert_eq!(r, cloudsight_result::Ok);
    verdict
}

/// Handshake and hello of a flow from `port` to `host`: the verdicts before and from the hello.
fn flow(
    engine: *const cloudsight_engine,
    port: u16,
    host: &str,
    ts: u64,
) -> [cloudsight_verdict; 3] {
    let before = feed(engine, &tcp(port, true, "S", &[]), ts);
    feed(engine, &tcp(port, false, "SA", &[]), ts + 1);
    let hello = sample::client_hello(host, &["h2"], 1);
    let named = feed(engine, &tcp(port, true, "A", &hello), ts + 2);
    let after = feed(engine, &tcp(port, false, "A", &[0x17; 100]), ts + 3);
    [before, named, after]
}

fn text(field: &[c_char]) -> String {
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn other_tenants_are_blocked_from_the_hello_on_through_the_c_abi() {
    let mut engine = ptr::null_mut();
    assert_eq!(
        unsafe { cloudsight_engine_new(ptr::null(), &mut engine) },
        cloudsight_result::Ok
    );
    let own = [c"Contoso".as_ptr()];
    let set = |app: &CStr, list: *const *const c_char, n: usize, s: u32| unsafe {
        cloudsight_engine_set_instance_policy(engine, app.as_ptr(), list, n, s)
    };
    assert_eq!(
        set(c"sharepoint", own.as_ptr(), 1, 1),
        cloudsight_result::Ok
    );
    // Errors: unknown app, unknown sanction, NULL list with a count, NULL entry, empty entry.
    assert_eq!(
        set(c"no-such-app", own.as_ptr(), 1, 1),
        cloudsight_result::UnknownApp
    );
    assert_eq!(
        set(c"sharepoint", own.as_ptr(), 1, 9),
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        set(c"sharepoint", ptr::null(), 1, 1),
        cloudsight_result::NullParameter
    );
    let with_null = [c"contoso".as_ptr(), ptr::null()];
    assert_eq!(
        set(c"sharepoint", with_null.as_ptr(), 2, 1),
        cloudsight_result::NullParameter
    );
    let empty = [c"".as_ptr()];
    assert_eq!(
        set(c"sharepoint", empty.as_ptr(), 1, 1),
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        set(c"sharepoint", own.as_ptr(), CLOUDSIGHT_MAX_INSTANCES + 1, 1),
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        unsafe {
            cloudsight_engine_set_instance_policy(
                ptr::null(),
                c"sharepoint".as_ptr(),
                own.as_ptr(),
                1,
                1,
            )
        },
        cloudsight_result::NullParameter
    );
    // Slack: every workspace but none is monitored (count 0, NULL list).
    assert_eq!(set(c"slack", ptr::null(), 0, 2), cloudsight_result::Ok);

    use cloudsight_verdict::{Allow, Block, Monitor};
    assert_eq!(
        flow(engine, 40001, "fabrikam.sharepoint.com", 10),
        [Allow, Block, Block]
    );
    assert_eq!(
        flow(engine, 40002, "contoso.sharepoint.com", 20),
        [Allow, Allow, Allow]
    );
    assert_eq!(
        flow(engine, 40003, "contoso-my.sharepoint.com", 30),
        [Allow, Allow, Allow]
    );
    assert_eq!(
        flow(engine, 40004, "fabrikam-my.sharepoint.com", 40),
        [Allow, Block, Block]
    );
    // No instance in the name: the app's own rule (none: allow).
    assert_eq!(
        flow(engine, 40005, "sharepoint.com", 50),
        [Allow, Allow, Allow]
    );
    assert_eq!(
        flow(engine, 40006, "acme.slack.com", 60),
        [Allow, Monitor, Monitor]
    );
    assert_eq!(
        flow(engine, 40007, "app.slack.com", 70),
        [Allow, Allow, Allow]
    );

    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 100) },
        cloudsight_result::Ok
    );
    let mut records = vec![cloudsight_record::zeroed(); 16];
    let mut n = 0;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                records.as_mut_ptr(),
                records.len(),
                size_of::<cloudsight_record>(),
                &mut n,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(n, 7);
    let mut seen: Vec<(String, String, u8)> = records[..n]
        .iter()
        .map(|r| (text(&r.server_name), text(&r.instance), r.verdict))
        .collect();
    seen.sort();
    let b = Block as u8;
    let a = Allow as u8;
    let m = Monitor as u8;
    assert_eq!(
        seen,
        [
            ("acme.slack.com".into(), "acme".into(), m),
            ("app.slack.com".into(), "".into(), a),
            ("contoso-my.sharepoint.com".into(), "contoso".into(), a),
            ("contoso.sharepoint.com".into(), "contoso".into(), a),
            ("fabrikam-my.sharepoint.com".into(), "fabrikam".into(), b),
            ("fabrikam.sharepoint.com".into(), "fabrikam".into(), b),
            ("sharepoint.com".into(), "".into(), a),
        ]
    );
    assert!(records[..n].iter().all(|r| r.truncated == 0));
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn rust_api_instance_policy_and_json_record() {
    let engine = Engine::new(cloudsight::Config::default()).unwrap();
    engine
        .set_app_instances("slack", &["acme"], Sanction::Unsanctioned)
        .unwrap();
    assert!(engine
        .set_app_instances("nope", &["acme"], Sanction::Unsanctioned)
        .is_err());
    let policy = engine.policy();
    let rule = policy.app_instances("slack").unwrap();
    assert_eq!(rule.own, ["acme"]);
    assert_eq!(rule.others, Sanction::Unsanctioned);
}
