//! The C ABI driven by an arbitrary sequence of calls, as a hostile or buggy sensor would make
//! them: packets (garbage, valid-looking IPv4/IPv6 TCP/UDP built from the input, unknown link
//! types), context bindings, ticks with time going backwards, flushes, drains into tiny arrays
//! and byte buffers, garbage catalogs, policies. No call may panic (`CLOUDSIGHT_RESULT_PANIC`),
//! outputs must respect the capacities given, and an encoded batch must decode.
#![no_main]
#![allow(unused_unsafe)] // calls to the C exports are wrapped one by one
use std::ffi::{c_char, CString};
use std::ptr::{null, null_mut};

use cloudsight::capi::*;
use libfuzzer_sys::fuzz_target;

/// A cursor over the fuzzer's bytes; reads past the end give zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const LINKS: [u32; 12] = [0, 1, 101, 108, 113, 228, 229, 276, 239, 2, 999, u32::MAX];
const APP_IDS: [&str; 6] = ["slack", "dropbox", "github", "chatgpt", "no-such-app", ""];
const NAMES: [&[u8]; 6] = [
    b"app.slack.com",
    b"www.dropbox.com",
    b"evilslack.com",
    b"x.example.co.uk",
    b"",
    b"\xff\xfe",
];

/// A C string from fuzz bytes (cut at the first NUL; may be invalid UTF-8).
fn cstring(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap()
}

fn ok(r: cloudsight_result) -> cloudsight_result {
    assert_ne!(r, cloudsight_result::Panic, "an export panicked");
    assert_ne!(r, cloudsight_result::Poisoned, "an export panicked earlier");
    r
}

/// IPv4 or IPv6, TCP or UDP, between a few endpoints, with the given payload (checksums zero).
fn synth_packet(input: &mut Input<'_>) -> Vec<u8> {
    let sel = input.u8();
    let flags = input.u8();
    let seq = input.u32();
    let len = usize::from(input.u8()) * 8;
    let payload = input.bytes(len);
    let ports: [u16; 6] = [443, 53, 80, 40000, 40001, 8443];
    let sport = ports[usize::from(sel & 7) % 6];
    let dport = ports[usize::from((sel >> 3) & 7) % 6];
    let tcp = sel & 0x40 != 0;
    let v6 = sel & 0x80 != 0;
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if tcp {
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    let proto = if tcp { 6 } else { 17 };
    let host = (seq >> 24) as u8 & 3;
    let mut out = Vec::new();
    if v6 {
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        out.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        out.extend_from_slice(&[proto, 64]);
        out.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host]);
        out.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    } else {
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
        out.extend_from_slice(&[10, 0, 0, host, 34, 120, 1, 9]);
    }
    out.extend_from_slice(&l4);
    out
}

fn ip(input: &mut Input<'_>) -> cloudsight_ip {
    let family = match input.u8() % 4 {
        0 => 4,
        1 => 6,
        2 => 0,
        _ => 5,
    };
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&[10, 0, 0, input.u8() & 3]);
    cloudsight_ip { family, addr }
}

/// A 5-tuple among a few, sometimes with a bad protocol or address family.
fn tuple(input: &mut Input<'_>) -> cloudsight_flow_tuple {
    let protocol = [6, 17, 1, 0][usize::from(input.u8() % 4)];
    let size = input.u8();
    cloudsight_flow_tuple {
        // Mostly the right size; sometimes shorter (refused when it cuts the addresses).
        // (never past the struct itself: the caller's struct_size is a promise about its memory)
        struct_size: if size < 224 {
            size_of::<cloudsight_flow_tuple>() as u32
        } else {
            u32::from(size) % (size_of::<cloudsight_flow_tuple>() as u32 + 1)
        },
        protocol,
        src: ip(input),
        src_port: [443, 53, 80, 40000][usize::from(input.u8() % 4)],
        dst: ip(input),
        dst_port: [443, 53, 80, 40000][usize::from(input.u8() % 4)],
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut config = std::mem::MaybeUninit::new(cloudsight_config::default());
    assert_eq!(
        unsafe { cloudsight_config_default(config.as_mut_ptr()) },
        cloudsight_result::Ok
    );
    // SAFETY: written by cloudsight_config_default.
    let mut config = unsafe { config.assume_init() };
    let n = usize::from(input.u8() % 16);
    let device = cstring(input.bytes(n));
    config.device_id = device.as_ptr();
    // Small (sometimes zero) limits, so that every bound is reached.
    config.max_flows = u64::from(input.u8() % 32);
    config.queue_capacity = u64::from(input.u8() % 16);
    config.max_pending_bindings = u64::from(input.u8() % 8);
    config.max_fragments = u64::from(input.u8() % 8);
    let t = input.u8();
    if t & 1 != 0 {
        config.active_timeout_ns = 1 + u64::from(t) * 100_000_000;
    }
    if t & 2 != 0 {
        config.tcp_linger_ns = 0;
    }
    if t & 4 != 0 {
        config.max_table_bytes = u64::from(input.u16()) * 64;
    }
    let mut engine: *mut cloudsight_engine = null_mut();
    if ok(unsafe { cloudsight_engine_new(&config, &mut engine) }) != cloudsight_result::Ok {
        assert!(engine.is_null());
        return;
    }
    let mut ts: u64 = 1_700_000_000_000_000_000;
    let mut records = vec![cloudsight_record::zeroed(); 4];
    let mut rows = vec![cloudsight_usage_row::default(); 3];
    let mut buf = vec![0u8; 4096];
    let path = cstring(b"C:\\Windows\\explorer.exe");
    let bad = cstring(b"\xc3\x28");
    while !input.is_empty() {
        match input.u8() % 20 {
            0 | 1 => {
                let link = LINKS[usize::from(input.u8()) % LINKS.len()];
                let len = usize::from(input.u16() % 2048);
                let frame = input.bytes(len);
                let mut verdict = cloudsight_verdict::Allow;
                let r = ok(unsafe {
                    cloudsight_engine_process_packet(
                        engine,
                        link,
                        if frame.is_empty() {
                            null()
                        } else {
                            frame.as_ptr()
                        },
                        frame.len(),
                        ts,
                        null(),
                        &mut verdict,
                    )
                });
                assert!(r == cloudsight_result::Ok || r == cloudsight_result::UnknownLinkType);
            }
            2..=4 => {
                let frame = synth_packet(&mut input);
                let with_ctx = input.u8();
                let ctx = cloudsight_context {
                    has_pid: u32::from(with_ctx & 1 != 0),
                    pid: u32::from(with_ctx),
                    process_start_ns: 0,
                    process_path: if with_ctx & 2 != 0 {
                        path.as_ptr()
                    } else {
                        null()
                    },
                    user_name: if with_ctx & 4 != 0 {
                        bad.as_ptr()
                    } else {
                        null()
                    },
                    user_id: null(),
                    // Sometimes a struct_size the library cannot serve: never costs the packet.
                    struct_size: if with_ctx & 64 != 0 {
                        u32::from(input.u8()) % (size_of::<cloudsight_context>() as u32 + 1)
                    } else {
                        size_of::<cloudsight_context>() as u32
                    },
                    ..Default::default()
                };
                let link = if with_ctx & 8 != 0 {
                    101
                } else {
                    228 + u32::from(frame[0] >> 6 == 1)
                };
                let mut verdict = cloudsight_verdict::Allow;
                let r = ok(unsafe {
                    cloudsight_engine_process_packet(
                        engine,
                        link,
                        frame.as_ptr(),
                        frame.len(),
                        ts,
                        if with_ctx & 16 != 0 { &ctx } else { null() },
                        if with_ctx & 32 != 0 {
                            null_mut()
                        } else {
                            &mut verdict
                        },
                    )
                });
                // A context (non-UTF-8, bad size) is never a reason to fail a packet.
                assert_eq!(r, cloudsight_result::Ok);
                ts = ts.wrapping_add(u64::from(input.u8()) * 10_000_000);
            }
            5 => {
                let tuple = tuple(&mut input);
                let n = usize::from(input.u8() % 8);
                let user = cstring(input.bytes(n));
                let ctx = cloudsight_context {
                    has_pid: 1,
                    pid: 42,
                    process_start_ns: ts,
                    process_path: path.as_ptr(),
                    user_name: user.as_ptr(),
                    user_id: null(),
                    ..Default::default()
                };
                let which = input.u8();
                let tuple_ptr = if which & 1 != 0 {
                    null()
                } else {
                    &tuple as *const _
                };
                let ctx_ptr = if which & 2 != 0 {
                    null()
                } else {
                    &ctx as *const _
                };
                ok(unsafe { cloudsight_engine_bind_context(engine, tuple_ptr, ctx_ptr, ts) });
            }
            6 => {
                // Time moves forward a lot, or backwards.
                let step = u64::from(input.u16()) * 100_000_000;
                ts = if input.u8() & 1 == 0 {
                    ts.wrapping_add(step)
                } else {
                    ts.wrapping_sub(step)
                };
                assert_eq!(
                    ok(unsafe { cloudsight_engine_tick(engine, ts) }),
                    cloudsight_result::Ok
                );
            }
            7 => {
                assert_eq!(
                    ok(unsafe { cloudsight_engine_flush(engine, ts) }),
                    cloudsight_result::Ok
                );
            }
            8 => {
                let capacity = usize::from(input.u8() % 5);
                let out = if capacity == 0 && input.u8() & 1 == 0 {
                    null_mut()
                } else {
                    records.as_mut_ptr()
                };
                let mut written = usize::MAX;
                let r = ok(unsafe {
                    cloudsight_engine_drain(
                        engine,
                        out,
                        capacity,
                        size_of::<cloudsight_record>(),
                        &mut written,
                    )
                });
                if out.is_null() && capacity != 0 {
                    assert_eq!(r, cloudsight_result::NullParameter);
                } else {
                    assert_eq!(r, cloudsight_result::Ok);
                    assert!(written <= capacity);
                }
            }
            9 => {
                let encoding = u32::from(input.u8() % 4);
                let capacity = usize::from(input.u16()) % (buf.len() + 1);
                let ptr = if capacity == 0 && input.u8() & 1 == 0 {
                    null_mut()
                } else {
                    buf.as_mut_ptr()
                };
                let mut written = usize::MAX;
                let r = ok(unsafe {
                    cloudsight_engine_drain_encoded(engine, encoding, ptr, capacity, &mut written)
                });
                match r {
                    cloudsight_result::Ok => {
                        assert!(written <= capacity);
                        if encoding == 2 && written > 0 {
                            let decoded = cloudsight::decode_batch(&buf[..written]);
                            assert!(
                                decoded.is_ok(),
                                "a drained batch does not decode: {decoded:?}"
                            );
                        }
                        if encoding == 1 {
                            assert!(written == 0 || buf[written - 1] == b'\n');
                        }
                    }
                    cloudsight_result::BufferTooSmall => assert!(written > capacity),
                    cloudsight_result::InvalidArgument => assert!(encoding == 0 || encoding == 3),
                    other => panic!("drain_encoded returned {other:?}"),
                }
            }
            10 => {
                let len = usize::from(input.u16() % 1024);
                let text = input.bytes(len);
                let format = u32::from(input.u8() % 4);
                let mode = u32::from(input.u8() % 4);
                let mut error = [1 as c_char; 64];
                let error_len = usize::from(input.u8()) % 65;
                let r = ok(unsafe {
                    cloudsight_engine_load_catalog(
                        engine,
                        if text.is_empty() && format == 0 {
                            null()
                        } else {
                            text.as_ptr()
                        },
                        text.len(),
                        format,
                        mode,
                        if error_len == 0 {
                            null_mut()
                        } else {
                            error.as_mut_ptr()
                        },
                        error_len,
                    )
                });
                if r == cloudsight_result::InvalidCatalog && error_len > 0 {
                    assert!(
                        error[..error_len].contains(&0),
                        "error message not terminated"
                    );
                }
            }
            11 => {
                let sel = input.u8();
                let id = CString::new(APP_IDS[usize::from(sel) % APP_IDS.len()]).unwrap();
                let sanction = u32::from(input.u8() % 4);
                ok(unsafe { cloudsight_engine_set_policy(engine, id.as_ptr(), sanction) });
                if sel & 0x80 != 0 {
                    let domain = cstring(NAMES[usize::from(sel) % NAMES.len()]);
                    ok(unsafe {
                        cloudsight_engine_set_domain_policy(engine, domain.as_ptr(), sanction)
                    });
                }
            }
            12 => {
                let name = cstring(NAMES[usize::from(input.u8()) % NAMES.len()]);
                let mut info = std::mem::MaybeUninit::new(cloudsight_app_info::default());
                ok(unsafe {
                    cloudsight_engine_lookup_app(engine, name.as_ptr(), info.as_mut_ptr())
                });
            }
            13 => {
                let mut stats = cloudsight_stats::default();
                assert_eq!(
                    ok(unsafe { cloudsight_engine_stats(engine, &mut stats) }),
                    cloudsight_result::Ok
                );
                assert!(stats.flows_active <= stats.flow_capacity);
                // The queue, plus what a flush could not fit in it (at most one per flow the
                // table can hold), plus a drain's hold-back.
                assert!(
                    stats.records_queued <= config.queue_capacity.max(1) + stats.flow_capacity + 4
                );
            }
            14 => {
                // NULL handles and outputs everywhere.
                let mut written = 0usize;
                assert_eq!(
                    unsafe {
                        cloudsight_engine_process_packet(
                            null(),
                            1,
                            null(),
                            0,
                            ts,
                            null(),
                            null_mut(),
                        )
                    },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe {
                        cloudsight_engine_process_packet(
                            engine,
                            1,
                            null(),
                            5,
                            ts,
                            null(),
                            null_mut(),
                        )
                    },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe {
                        cloudsight_engine_drain(
                            engine,
                            null_mut(),
                            0,
                            size_of::<cloudsight_record>(),
                            null_mut(),
                        )
                    },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe {
                        cloudsight_engine_drain(
                            null(),
                            null_mut(),
                            0,
                            size_of::<cloudsight_record>(),
                            &mut written,
                        )
                    },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe { cloudsight_engine_tick(null(), ts) },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe { cloudsight_engine_stats(engine, null_mut()) },
                    cloudsight_result::NullParameter
                );
                assert_eq!(
                    unsafe {
                        cloudsight_engine_load_catalog(engine, null(), 0, 1, 1, null_mut(), 0)
                    },
                    cloudsight_result::NullParameter
                );
            }
            16 => {
                // Stream input: a connection opened (ALE connect).
                let t = tuple(&mut input);
                let mut verdict = cloudsight_verdict::Allow;
                let r = ok(unsafe {
                    cloudsight_engine_open_flow(engine, &t, null(), ts, &mut verdict)
                });
                assert!(matches!(
                    r,
                    cloudsight_result::Ok
                        | cloudsight_result::InvalidArgument
                        | cloudsight_result::StructSize
                ));
            }
            17 => {
                // Stream bytes, either direction (or a bad one), any wire count.
                let t = tuple(&mut input);
                let direction = u32::from(input.u8() % 4);
                let len = usize::from(input.u16() % 2048);
                let data = input.bytes(len);
                let wire = match input.u8() % 3 {
                    0 => data.len() as u64,
                    1 => u64::from(input.u32()),
                    _ => u64::MAX,
                };
                let r = ok(unsafe {
                    cloudsight_engine_stream_data(
                        engine,
                        &t,
                        direction,
                        if data.is_empty() {
                            null()
                        } else {
                            data.as_ptr()
                        },
                        data.len(),
                        wire,
                        ts,
                        null_mut(),
                    )
                });
                assert!(matches!(
                    r,
                    cloudsight_result::Ok
                        | cloudsight_result::InvalidArgument
                        | cloudsight_result::StructSize
                ));
            }
            19 => {
                // Usage rows, into an array of this header's rows or an older, shorter layout
                // (a stride of any size from 8 up to the row: never past the caller's array).
                let capacity = usize::from(input.u8() % 4);
                let full = size_of::<cloudsight_usage_row>();
                let stride = if input.u8() & 1 == 0 {
                    full
                } else {
                    8 + usize::from(input.u16()) % (full - 7)
                };
                let mut written = usize::MAX;
                let r = ok(unsafe {
                    cloudsight_engine_drain_usage(
                        engine,
                        rows.as_mut_ptr(),
                        capacity,
                        stride,
                        &mut written,
                    )
                });
                assert_eq!(r, cloudsight_result::Ok);
                assert!(written <= capacity);
            }
            18 => {
                let t = tuple(&mut input);
                let r = ok(unsafe { cloudsight_engine_close_flow(engine, &t, ts) });
                assert!(matches!(
                    r,
                    cloudsight_result::Ok
                        | cloudsight_result::NotFound
                        | cloudsight_result::InvalidArgument
                        | cloudsight_result::StructSize
                ));
            }
            _ => {
                // Empty and one-byte frames on every link type.
                let link = LINKS[usize::from(input.u8()) % 9];
                let b = [input.u8()];
                ok(unsafe {
                    cloudsight_engine_process_packet(
                        engine,
                        link,
                        null(),
                        0,
                        ts,
                        null(),
                        null_mut(),
                    )
                });
                ok(unsafe {
                    cloudsight_engine_process_packet(
                        engine,
                        link,
                        b.as_ptr(),
                        1,
                        ts,
                        null(),
                        null_mut(),
                    )
                });
            }
        }
    }
    ok(unsafe { cloudsight_engine_flush(engine, ts) });
    let mut written = 0usize;
    loop {
        let r = ok(unsafe {
            cloudsight_engine_drain(
                engine,
                records.as_mut_ptr(),
                1,
                size_of::<cloudsight_record>(),
                &mut written,
            )
        });
        assert_eq!(r, cloudsight_result::Ok);
        if written == 0 {
            break;
        }
        let rec = &records[0];
        assert!(rec.protocol == 6 || rec.protocol == 17);
        assert!(rec.event == 1 || rec.event == 2);
    }
    unsafe { cloudsight_engine_free(engine) };
});
