//! Catalog and policy through the C ABI: a custom catalog, an unsanctioned app, and `block` from the
//! packet that names the flow on; a bad catalog is refused and the old one stays in force.
#![allow(unused_unsafe)] // calls to the C exports are wrapped one by one

use std::ffi::c_char;
use std::ptr;

use cloudsight::capi::*;
use cloudsight_testkit::packet::{Tcp, ACK, SYN};
use cloudsight_testkit::sample;

const CATALOG: &str = r#"
schema_version = 1
apps = [
  { id = "acme-files", name = "Acme Files", category = "cloudStorage", risk = 4, domains = ["acme-files.example"] },
]
"#;

fn tcp(from_client: bool, flags: &str, payload: &[u8]) -> Vec<u8> {
    let flags =
        if flags.contains('S') { SYN } else { 0 } | if flags.contains('A') { ACK } else { 0 };
    Tcp::new(([10, 0, 0, 5], 40000), ([198, 51, 100, 7], 443))
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

#[test]
fn unsanctioned_app_is_blocked_from_the_naming_packet_on() {
    let mut engine = ptr::null_mut();
    assert_eq!(
        unsafe { cloudsight_engine_new(ptr::null(), &mut engine) },
        cloudsight_result::Ok
    );

    let mut error = [0 as c_char; 256];
    let r = unsafe {
        cloudsight_engine_load_catalog(
            engine,
            CATALOG.as_ptr(),
            CATALOG.len(),
            1,
            2,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    assert_eq!(r, cloudsight_result::Ok);
    assert_eq!(
        unsafe { cloudsight_engine_set_policy(engine, c"acme-files".as_ptr(), 1) },
        cloudsight_result::Ok
    );
    assert_eq!(
        unsafe { cloudsight_engine_set_policy(engine, c"no-such-app".as_ptr(), 1) },
        cloudsight_result::UnknownApp
    );

    // Before the ClientHello the flow is unnamed: allow.
    assert_eq!(
        feed(engine, &tcp(true, "S", &[]), 1),
        cloudsight_verdict::Allow
    );
    assert_eq!(
        feed(engine, &tcp(false, "SA", &[]), 2),
        cloudsight_verdict::Allow
    );
    assert_eq!(
        feed(engine, &tcp(true, "A", &[]), 3),
        cloudsight_verdict::Allow
    );
    let hello = sample::client_hello("upload.acme-files.example", &["h2"], 1);
    assert_eq!(
        feed(engine, &tcp(true, "A", &hello), 4),
        cloudsight_verdict::Block
    );
    // Every later packet of the flow, both ways.
    assert_eq!(
        feed(engine, &tcp(false, "A", &[0x17; 100]), 5),
        cloudsight_verdict::Block
    );
    assert_eq!(
        feed(engine, &tcp(true, "A", &[]), 6),
        cloudsight_verdict::Block
    );

    // A bad catalog is refused with line and field, and the old one stays in force.
    let bad = "schema_version = 1\napps = [ { id = \"x\", name = \"X\", category = \"nope\", domains = [\"x.example\"] } ]\n";
    let r = unsafe {
        cloudsight_engine_load_catalog(
            engine,
            bad.as_ptr(),
            bad.len(),
            1,
            1,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    assert_eq!(r, cloudsight_result::InvalidCatalog);
    let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    assert!(
        message.contains("line 2") && message.contains("category"),
        "{message}"
    );
    let mut info = std::mem::MaybeUninit::new(cloudsight_app_info::default());
    assert_eq!(
        unsafe {
            cloudsight_engine_lookup_app(
                engine,
                c"cdn.acme-files.example".as_ptr(),
                info.as_mut_ptr(),
            )
        },
        cloudsight_result::Ok
    );
    let info = unsafe { info.assume_init() };
    assert_eq!(
        unsafe { std::ffi::CStr::from_ptr(info.id.as_ptr()) }
            .to_str()
            .unwrap(),
        "acme-files"
    );
    assert_eq!(info.risk, 4);
    // The embedded catalog is still there underneath (mode extend).
    let mut slack = std::mem::MaybeUninit::new(cloudsight_app_info::default());
    assert_eq!(
        unsafe {
            cloudsight_engine_lookup_app(engine, c"app.slack.com".as_ptr(), slack.as_mut_ptr())
        },
        cloudsight_result::Ok
    );
    assert_eq!(
        unsafe {
            cloudsight_engine_lookup_app(engine, c"evilslack.com".as_ptr(), slack.as_mut_ptr())
        },
        cloudsight_result::NotFound
    );

    // The record carries the app and the verdict.
    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 10) },
        cloudsight_result::Ok
    );
    let mut records = vec![cloudsight_record::zeroed(); 4];
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
    assert_eq!(n, 1);
    let r = &records[0];
    assert_eq!(r.has_app, 1);
    assert_eq!(r.verdict, cloudsight_verdict::Block as u8);
    assert_eq!(
        unsafe { std::ffi::CStr::from_ptr(r.server_name.as_ptr()) }
            .to_str()
            .unwrap(),
        "upload.acme-files.example"
    );
    assert_eq!(r.name_source, 1);
    unsafe { cloudsight_engine_free(engine) };
}
