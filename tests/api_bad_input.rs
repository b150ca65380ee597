//! Bad input at the API, beyond tests/c_api.rs and examples/c/api_misuse.c: configurations with
//! zero or absurd limits, huge lengths, every unknown link type, time going backwards (and
//! jumping to the end of time), zero-length and one-byte buffers, invalid UTF-8 in every string,
//! bad tuples and enum values. Every call returns a documented result and never panics.
#![allow(unused_unsafe)] // calls to the C exports are wrapped one by one

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use cloudsight::capi::*;
use cloudsight::{Config, Engine, LinkType};

const FRAME: [u8; 32] = [
    0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0,
    2, 0x13, 0x88, 0x17, 0x70, 0x00, 0x0c, 0x00, 0x00, b'd', b'a', b't', b'a',
];

fn default_config() -> cloudsight_config {
    let mut c = cloudsight_config::default();
    assert_eq!(
        unsafe { cloudsight_config_default(&mut c) },
        cloudsight_result::Ok
    );
    c
}

fn new_engine(config: &cloudsight_config) -> Result<*mut cloudsight_engine, cloudsight_result> {
    let mut engine = null_mut();
    match unsafe { cloudsight_engine_new(config, &mut engine) } {
        cloudsight_result::Ok => Ok(engine),
        e => {
            assert!(engine.is_null(), "output written on failure");
            Err(e)
        }
    }
}

fn stats(engine: *const cloudsight_engine) -> cloudsight_stats {
    let mut s = cloudsight_stats::default();
    assert_eq!(
        unsafe { cloudsight_engine_stats(engine, &mut s) },
        cloudsight_result::Ok
    );
    s
}

#[test]
fn configs_with_zero_or_absurd_limits_are_refused_or_work() {
    type Change = fn(&mut cloudsight_config);
    let invalid = cloudsight_result::InvalidConfig;
    let cases: [(&str, Change); 8] = [
        ("max_flows 0", |c| c.max_flows = 0),
        ("max_table_bytes 0", |c| c.max_table_bytes = 0),
        ("max_table_bytes below one flow", |c| c.max_table_bytes = 1),
        ("queue_capacity 0", |c| c.queue_capacity = 0),
        ("tcp idle 0", |c| c.tcp_idle_timeout_ns = 0),
        ("udp idle 0", |c| c.udp_idle_timeout_ns = 0),
        ("active timeout 0", |c| c.active_timeout_ns = 0),
        ("queue_capacity u64::MAX", |c| c.queue_capacity = u64::MAX),
    ];
    for (what, change) in cases {
        let mut c = default_config();
        change(&mut c);
        assert_eq!(new_engine(&c).err(), Some(invalid), "{what}");
    }
    let mut c = default_config();
    c.max_fragments = u64::MAX;
    assert_eq!(
        new_engine(&c).err(),
        Some(invalid),
        "max_fragments u64::MAX"
    );

    // Zero where zero means "none": no pending bindings, no fragment tracking, no linger, no
    // binding TTL; and huge flow and table bounds (allocated lazily).
    let mut c = default_config();
    c.max_pending_bindings = 0;
    c.max_fragments = 0;
    c.tcp_linger_ns = 0;
    c.binding_ttl_ns = 0;
    c.max_flows = u64::MAX;
    c.max_table_bytes = u64::MAX;
    c.queue_capacity = 1;
    let engine = new_engine(&c).expect("zero optional limits are valid");
    let tuple = cloudsight_flow_tuple {
        protocol: 17,
        src: cloudsight_ip {
            family: 4,
            addr: [9; 16],
        },
        src_port: 1,
        dst: cloudsight_ip {
            family: 4,
            addr: [8; 16],
        },
        dst_port: 2,
        ..Default::default()
    };
    let ctx = cloudsight_context {
        has_pid: 1,
        pid: 1,
        process_start_ns: 0,
        process_path: null(),
        user_name: null(),
        user_id: null(),
        ..Default::default()
    };
    assert_eq!(
        unsafe { cloudsight_engine_bind_context(engine, &tuple, &ctx, 0) },
        cloudsight_result::Ok
    );
    for i in 0..10u64 {
        let mut frame = FRAME;
        frame[19] = i as u8;
        let r = unsafe {
            cloudsight_engine_process_packet(
                engine,
                228,
                frame.as_ptr(),
                frame.len(),
                i,
                null(),
                null_mut(),
            )
        };
        assert_eq!(r, cloudsight_result::Ok);
    }
    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 10) },
        cloudsight_result::Ok
    );
    let s = stats(engine);
    assert_eq!(s.bindings_dropped, 1, "no room for a pending binding");
    assert_eq!(s.records, 10);
    // A flush loses nothing, even into a queue of one: what does not fit waits beside it.
    assert_eq!(s.records_dropped, 0, "a flush never drops records");
    assert_eq!(s.records_queued, 10);
    let mut out = vec![cloudsight_record::zeroed(); 16];
    let mut n = 0;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                out.as_mut_ptr(),
                out.len(),
                size_of::<cloudsight_record>(),
                &mut n,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(n, 10);
    unsafe { cloudsight_engine_free(engine) };

    // The Rust API: zero DNS cache, zero inspection memory.
    let engine = Engine::new(Config {
        dns_cache_entries: 0,
        max_inspect_bytes: 0,
        ..Config::default()
    })
    .unwrap();
    engine.process_packet(LinkType::Ipv4, &FRAME, 1, None);
    assert_eq!(engine.stats().dns_cache_entries, 0);
}

#[test]
fn huge_lengths_are_refused_without_touching_memory() {
    let engine = new_engine(&default_config()).unwrap();
    let byte = 0u8;
    let huge = usize::MAX;
    // Dangling-but-non-NULL pointers with lengths past isize::MAX: refused before any read.
    assert_eq!(
        unsafe { cloudsight_engine_process_packet(engine, 1, &byte, huge, 0, null(), null_mut()) },
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        unsafe { cloudsight_engine_load_catalog(engine, &byte, huge, 1, 1, null_mut(), 0) },
        cloudsight_result::InvalidArgument
    );
    let mut out = 0u8;
    let mut written = 5usize;
    assert_eq!(
        unsafe { cloudsight_engine_drain_encoded(engine, 1, &mut out, huge, &mut written) },
        cloudsight_result::InvalidArgument
    );
    assert_eq!(written, 0, "*written is 0 on every error");
    assert_eq!(stats(engine).packets, 0);
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn every_unknown_link_type_is_an_error_and_every_known_one_takes_empty_and_short_frames() {
    let engine = new_engine(&default_config()).unwrap();
    let known = [
        0u32, 1, 7, 9, 10, 50, 101, 104, 105, 108, 113, 119, 127, 129, 163, 192, 228, 229, 239, 276,
    ];
    let mut verdict = cloudsight_verdict::Block;
    for link in (0..=1024u32).chain([u32::MAX, u32::MAX - 1, 1 << 16, 1 << 31]) {
        let r = unsafe {
            cloudsight_engine_process_packet(
                engine,
                link,
                FRAME.as_ptr(),
                FRAME.len(),
                0,
                null(),
                &mut verdict,
            )
        };
        if known.contains(&link) {
            assert_eq!(r, cloudsight_result::Ok, "link {link}");
            assert_eq!(verdict, cloudsight_verdict::Allow);
            verdict = cloudsight_verdict::Block;
        } else {
            assert_eq!(r, cloudsight_result::UnknownLinkType, "link {link}");
            assert_eq!(
                verdict,
                cloudsight_verdict::Allow,
                "a failed call answers the fail-open verdict"
            );
            verdict = cloudsight_verdict::Block;
            let rust = Engine::new(Config::default())
                .unwrap()
                .process_packet_linktype(link, &FRAME, 0, None);
            assert!(rust.is_err());
        }
    }
    // Every prefix of a valid frame, on every link type, at once empty, cut and whole.
    let before = stats(engine).packets;
    let mut fed = 0;
    for link in known {
        for len in 0..=FRAME.len() {
            let ptr = if len == 0 { null() } else { FRAME.as_ptr() };
            assert_eq!(
                unsafe {
                    cloudsight_engine_process_packet(engine, link, ptr, len, 0, null(), null_mut())
                },
                cloudsight_result::Ok
            );
            fed += 1;
        }
    }
    assert_eq!(stats(engine).packets - before, fed);
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn time_going_backwards_and_to_the_end_of_time() {
    let engine = new_engine(&default_config()).unwrap();
    let send = |ts: u64, last: u8| {
        let mut frame = FRAME;
        frame[19] = last;
        assert_eq!(
            unsafe {
                cloudsight_engine_process_packet(
                    engine,
                    228,
                    frame.as_ptr(),
                    frame.len(),
                    ts,
                    null(),
                    null_mut(),
                )
            },
            cloudsight_result::Ok
        );
    };
    let times = [5_000_000_000u64, 1, 0, u64::MAX, 3, u64::MAX - 1, 0];
    for (i, &ts) in times.iter().enumerate() {
        send(ts, 2);
        send(ts, 3 + i as u8);
        assert_eq!(
            unsafe { cloudsight_engine_tick(engine, times[(i + 3) % times.len()]) },
            cloudsight_result::Ok
        );
    }
    assert_eq!(
        unsafe { cloudsight_engine_tick(engine, u64::MAX) },
        cloudsight_result::Ok
    );
    assert_eq!(
        unsafe { cloudsight_engine_tick(engine, 0) },
        cloudsight_result::Ok
    );
    assert_eq!(
        unsafe { cloudsight_engine_flush(engine, 0) },
        cloudsight_result::Ok
    );
    let mut records = vec![cloudsight_record::zeroed(); 64];
    let mut written = 0;
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                records.as_mut_ptr(),
                records.len(),
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    let s = stats(engine);
    assert_eq!(s.records, written as u64);
    let packets: u64 = records[..written]
        .iter()
        .map(|r| r.packets_up + r.packets_down)
        .sum();
    assert_eq!(
        packets,
        2 * times.len() as u64,
        "every packet counted once, whatever its time"
    );
    for r in &records[..written] {
        assert!(
            r.first_seen_ns <= r.last_seen_ns || r.event == 1,
            "first {} last {}",
            r.first_seen_ns,
            r.last_seen_ns
        );
    }
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn zero_length_and_tiny_buffers() {
    let engine = new_engine(&default_config()).unwrap();
    let mut written = 99usize;
    // Nothing queued: capacity 0 with NULL is fine everywhere.
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                null_mut(),
                0,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(written, 0);
    for enc in [1, 2] {
        written = 99;
        assert_eq!(
            unsafe { cloudsight_engine_drain_encoded(engine, enc, null_mut(), 0, &mut written) },
            cloudsight_result::Ok
        );
        assert_eq!(written, 0);
    }
    unsafe {
        cloudsight_engine_process_packet(
            engine,
            228,
            FRAME.as_ptr(),
            FRAME.len(),
            1,
            null(),
            null_mut(),
        )
    };
    unsafe { cloudsight_engine_flush(engine, 2) };
    // One record queued: capacity 0 takes nothing; a 1-byte buffer is too small and says how much
    // is needed; the record is still there afterwards.
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                null_mut(),
                0,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(written, 0);
    for enc in [1, 2] {
        for cap in [0usize, 1, 16] {
            let mut buf = [0u8; 16];
            let ptr = if cap == 0 {
                null_mut()
            } else {
                buf.as_mut_ptr()
            };
            assert_eq!(
                unsafe { cloudsight_engine_drain_encoded(engine, enc, ptr, cap, &mut written) },
                cloudsight_result::BufferTooSmall
            );
            assert!(written > cap);
            assert!(
                buf.iter().all(|&b| b == 0),
                "nothing written when too small"
            );
        }
    }
    for enc in [0u32, 3, u32::MAX] {
        let mut buf = [0u8; 4096];
        assert_eq!(
            unsafe {
                cloudsight_engine_drain_encoded(
                    engine,
                    enc,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut written,
                )
            },
            cloudsight_result::InvalidArgument
        );
    }
    assert_eq!(stats(engine).records_queued, 1);
    let mut record = [cloudsight_record::zeroed()];
    assert_eq!(
        unsafe {
            cloudsight_engine_drain(
                engine,
                record.as_mut_ptr(),
                1,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(
        (written, record[0].bytes_up + record[0].bytes_down),
        (1, 32)
    );

    // Catalog errors into error buffers of 1 and 2 bytes: always NUL-terminated, never overrun.
    let garbage = b"apps = [ { id = ";
    for len in [1usize, 2] {
        let mut err = [0x55u8 as std::ffi::c_char; 4];
        assert_eq!(
            unsafe {
                cloudsight_engine_load_catalog(
                    engine,
                    garbage.as_ptr(),
                    garbage.len(),
                    1,
                    1,
                    err.as_mut_ptr(),
                    len,
                )
            },
            cloudsight_result::InvalidCatalog
        );
        assert_eq!(err[len - 1], 0);
        assert!(err[len..].iter().all(|&c| c == 0x55));
    }
    // An empty catalog text (zero length, non-NULL pointer) is a catalog error, not a crash.
    let empty = b"";
    let r =
        unsafe { cloudsight_engine_load_catalog(engine, empty.as_ptr(), 0, 2, 1, null_mut(), 0) };
    assert_eq!(r, cloudsight_result::InvalidCatalog);
    unsafe { cloudsight_engine_free(engine) };
}

#[test]
fn invalid_utf8_bad_tuples_and_bad_enums() {
    let bad = c"\xc3\x28";
    let mut c = default_config();
    c.device_name = bad.as_ptr();
    assert_eq!(
        new_engine(&c).err(),
        Some(cloudsight_result::InvalidArgument)
    );

    let engine = new_engine(&default_config()).unwrap();
    let mut ctx = cloudsight_context {
        has_pid: 0,
        pid: 0,
        process_start_ns: 0,
        process_path: null(),
        user_name: null(),
        user_id: bad.as_ptr(),
        ..Default::default()
    };
    // A context that is not UTF-8 never costs the packet: it is counted, inspected, recorded.
    let mut verdict = cloudsight_verdict::Block;
    assert_eq!(
        unsafe {
            cloudsight_engine_process_packet(
                engine,
                228,
                FRAME.as_ptr(),
                FRAME.len(),
                0,
                &ctx,
                &mut verdict,
            )
        },
        cloudsight_result::Ok
    );
    assert_eq!(verdict, cloudsight_verdict::Allow);
    assert_eq!(stats(engine).flows_active, 1, "the packet made its flow");
    assert_eq!(
        stats(engine).context_lossy,
        1,
        "and the lossy context is counted"
    );

    let good_ip = cloudsight_ip {
        family: 4,
        addr: [1; 16],
    };
    let mut tuple = cloudsight_flow_tuple {
        protocol: 6,
        src: good_ip,
        src_port: 1,
        dst: good_ip,
        dst_port: 2,
        ..Default::default()
    };
    assert_eq!(
        unsafe { cloudsight_engine_bind_context(engine, &tuple, &ctx, 0) },
        cloudsight_result::Ok,
        "a binding with a non-UTF-8 context is taken"
    );
    assert_eq!(stats(engine).bindings, 1);
    ctx.user_id = null();
    for (protocol, family) in [(1u8, 4u8), (0, 4), (255, 6), (6, 0), (17, 5), (6, 255)] {
        tuple.protocol = protocol;
        tuple.src.family = family;
        assert_eq!(
            unsafe { cloudsight_engine_bind_context(engine, &tuple, &ctx, 0) },
            cloudsight_result::InvalidArgument,
            "protocol {protocol} family {family}"
        );
    }
    assert_eq!(stats(engine).bindings, 1);

    for (id, sanction, want) in [
        (bad, 0, cloudsight_result::InvalidArgument),
        (c"slack", 3, cloudsight_result::InvalidArgument),
        (c"slack", u32::MAX, cloudsight_result::InvalidArgument),
        (c"", 0, cloudsight_result::UnknownApp),
        (c"no such app", 1, cloudsight_result::UnknownApp),
    ] {
        assert_eq!(
            unsafe { cloudsight_engine_set_policy(engine, id.as_ptr(), sanction) },
            want,
            "{id:?} {sanction}"
        );
    }
    assert_eq!(
        unsafe { cloudsight_engine_set_domain_policy(engine, bad.as_ptr(), 0) },
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        unsafe { cloudsight_engine_set_domain_policy(engine, c"".as_ptr(), 9) },
        cloudsight_result::InvalidArgument
    );
    let mut info = std::mem::MaybeUninit::new(cloudsight_app_info::default());
    assert_eq!(
        unsafe { cloudsight_engine_lookup_app(engine, bad.as_ptr(), info.as_mut_ptr()) },
        cloudsight_result::InvalidArgument
    );
    assert_eq!(
        unsafe { cloudsight_engine_lookup_app(engine, c"".as_ptr(), info.as_mut_ptr()) },
        cloudsight_result::NotFound
    );
    assert_eq!(
        unsafe { cloudsight_engine_lookup_app(engine, c".".as_ptr(), info.as_mut_ptr()) },
        cloudsight_result::NotFound
    );
    assert_eq!(
        unsafe { cloudsight_engine_lookup_app(engine, null(), info.as_mut_ptr()) },
        cloudsight_result::NullParameter
    );

    // Catalog text that is not UTF-8, in both formats and modes, and bad format/mode numbers.
    let text = b"\xff\xfe schema_version = 1";
    for (format, mode, want) in [
        (1, 1, cloudsight_result::InvalidCatalog),
        (2, 2, cloudsight_result::InvalidCatalog),
        // A bad format number is refused before the text is read.
        (0, 1, cloudsight_result::InvalidArgument),
    ] {
        assert_eq!(
            unsafe {
                cloudsight_engine_load_catalog(
                    engine,
                    text.as_ptr(),
                    text.len(),
                    format,
                    mode,
                    null_mut(),
                    0,
                )
            },
            want
        );
    }
    let ok = b"schema_version = 1\napps = []\n";
    for (format, mode) in [(0u32, 1u32), (3, 1), (1, 0), (1, 3), (u32::MAX, u32::MAX)] {
        assert_eq!(
            unsafe {
                cloudsight_engine_load_catalog(
                    engine,
                    ok.as_ptr(),
                    ok.len(),
                    format,
                    mode,
                    null_mut(),
                    0,
                )
            },
            cloudsight_result::InvalidArgument,
            "format {format} mode {mode}"
        );
    }
    // The embedded catalog is still in force after all that.
    assert_eq!(
        unsafe {
            cloudsight_engine_lookup_app(engine, c"app.slack.com".as_ptr(), info.as_mut_ptr())
        },
        cloudsight_result::Ok
    );

    // Result texts for any number: static, non-empty.
    for code in [0u32, 9, 10, 1000, u32::MAX] {
        // SAFETY: static NUL-terminated strings.
        let text = unsafe { CStr::from_ptr(cloudsight_result_text(code)) };
        assert!(!text.to_bytes().is_empty());
    }
    unsafe { cloudsight_engine_free(engine) };
}
