//! Plain C structs and enums of the ABI, and their conversions to the Rust API's types.
//!
//! Flags read from C memory are integers (any non-zero value is true): a C `bool`, a Windows
//! `BOOL` or uninitialised stack all read as a valid value.

use std::borrow::Cow;
use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::abi::{versioned, Zeroed};
use super::{bounded_bytes, cloudsight_result, enum_from_u32, exact_str, MAX_ARG_TEXT};
use crate::{Config, ContextRef, Device, FlowTuple, Stats, Transport, Verdict};

/// The answer for a packet: what the admin's policy says about its flow.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_verdict {
    /// Let it pass.
    Allow = 0,
    /// Let it pass; the flow goes to a monitored app.
    Monitor = 1,
    /// Block it: the flow goes to an unsanctioned app.
    Block = 2,
}

impl From<Verdict> for cloudsight_verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Allow => cloudsight_verdict::Allow,
            Verdict::Monitor => cloudsight_verdict::Monitor,
            Verdict::Block => cloudsight_verdict::Block,
        }
    }
}

/// Encodings for `cloudsight_engine_drain_encoded`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_encoding {
    /// One JSON object per record, each ending with '\n' (not NUL-terminated).
    JsonLines = 1,
    /// One bincode batch: header (magic "CSRB", schema, device, count), then the records.
    BincodeBatch = 2,
}

enum_from_u32!(cloudsight_encoding {
    JsonLines,
    BincodeBatch
});

/// Address family tags of `cloudsight_ip`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cloudsight_ip_family {
    /// No address.
    None = 0,
    /// IPv4: the first 4 bytes of `addr`, network order.
    V4 = 4,
    /// IPv6: all 16 bytes of `addr`, network order.
    V6 = 6,
}

/// An IPv4 or IPv6 address (17 bytes, alignment 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cloudsight_ip {
    /// `CLOUDSIGHT_IP_FAMILY_V4` or `CLOUDSIGHT_IP_FAMILY_V6` (a `cloudsight_ip_family`).
    pub family: u8,
    /// The address bytes in network order; IPv4 uses the first 4.
    pub addr: [u8; 16],
}

impl cloudsight_ip {
    const NONE: cloudsight_ip = cloudsight_ip {
        family: 0,
        addr: [0; 16],
    };

    pub(crate) fn from_ip(ip: IpAddr) -> cloudsight_ip {
        let mut addr = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => {
                addr[..4].copy_from_slice(&v4.octets());
                cloudsight_ip {
                    family: cloudsight_ip_family::V4 as u8,
                    addr,
                }
            }
            IpAddr::V6(v6) => cloudsight_ip {
                family: cloudsight_ip_family::V6 as u8,
                addr: v6.octets(),
            },
        }
    }

    fn to_ip(self) -> Result<IpAddr, cloudsight_result> {
        match self.family {
            4 => Ok(IpAddr::V4(Ipv4Addr::new(
                self.addr[0],
                self.addr[1],
                self.addr[2],
                self.addr[3],
            ))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.addr))),
            _ => Err(cloudsight_result::InvalidArgument),
        }
    }
}

/// A flow's 5-tuple as the sensor knows it (either direction; the library orders it). Set
/// `struct_size` to `sizeof(cloudsight_flow_tuple)`; every field is required.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cloudsight_flow_tuple {
    /// `sizeof(cloudsight_flow_tuple)` as the caller's header declares it.
    pub struct_size: u32,
    /// IP protocol number: 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// Reserved, must be 0.
    pub reserved: u8,
    /// One endpoint's port.
    pub src_port: u16,
    /// The other endpoint's port.
    pub dst_port: u16,
    /// One endpoint's address.
    pub src: cloudsight_ip,
    /// The other endpoint's address.
    pub dst: cloudsight_ip,
}

impl Zeroed for cloudsight_flow_tuple {
    fn zeroed() -> Self {
        cloudsight_flow_tuple {
            struct_size: 0,
            protocol: 0,
            reserved: 0,
            src_port: 0,
            dst_port: 0,
            src: cloudsight_ip::NONE,
            dst: cloudsight_ip::NONE,
        }
    }
}

versioned!(
    cloudsight_flow_tuple,
    min = dst,
    [
        struct_size,
        protocol,
        reserved,
        src_port,
        dst_port,
        src,
        dst
    ]
);

/// Read a caller's tuple pointer.
///
/// # Safety
/// `tuple` is NULL or points to a tuple readable for its `struct_size` bytes.
pub(crate) unsafe fn read_tuple(
    tuple: *const cloudsight_flow_tuple,
) -> Result<FlowTuple, cloudsight_result> {
    // SAFETY: forwarded from the caller's contract.
    let t = unsafe { super::abi::read_input(tuple, cloudsight_flow_tuple::zeroed()) }?;
    let transport = match t.protocol {
        6 => Transport::Tcp,
        17 => Transport::Udp,
        _ => return Err(cloudsight_result::InvalidArgument),
    };
    Ok(FlowTuple {
        transport,
        src: t.src.to_ip()?,
        src_port: t.src_port,
        dst: t.dst.to_ip()?,
        dst_port: t.dst_port,
    })
}

/// Longest process path read from a context, in bytes (a longer one is cut and counted).
pub const CLOUDSIGHT_MAX_PROCESS_PATH: u32 = crate::MAX_PROCESS_PATH as u32;
/// Longest user name or user id read from a context, in bytes (a longer one is cut and counted).
pub const CLOUDSIGHT_MAX_USER_FIELD: u32 = crate::MAX_USER_FIELD as u32;

/// Process and user context of a packet or a flow. Set `struct_size` to
/// `sizeof(cloudsight_context)`. Strings are NUL-terminated or NULL (unknown), read up to
/// `CLOUDSIGHT_MAX_PROCESS_PATH` / `CLOUDSIGHT_MAX_USER_FIELD` bytes (longer ones are cut), and
/// should be UTF-8: other bytes are decoded lossily (U+FFFD) and counted in
/// `cloudsight_stats.context_lossy`, never refused. The library copies what it keeps (one copy per
/// distinct context), so the strings need only live for the call. A context that cannot be read
/// (bad `struct_size`) costs only itself: the packet is processed without it and
/// `cloudsight_stats.context_invalid` counts it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_context {
    /// `sizeof(cloudsight_context)` as the caller's header declares it.
    pub struct_size: u32,
    /// Non-zero when `pid` is set (read as an integer: any non-zero value is true).
    pub has_pid: u32,
    /// Process id.
    pub pid: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path, or NULL.
    pub process_path: *const c_char,
    /// User account name, or NULL.
    pub user_name: *const c_char,
    /// User id (Windows SID or Unix uid as text), or NULL.
    pub user_id: *const c_char,
}

impl Zeroed for cloudsight_context {
    fn zeroed() -> Self {
        cloudsight_context {
            struct_size: 0,
            has_pid: 0,
            pid: 0,
            reserved: 0,
            process_start_ns: 0,
            process_path: std::ptr::null(),
            user_name: std::ptr::null(),
            user_id: std::ptr::null(),
        }
    }
}

versioned!(
    cloudsight_context,
    min = struct_size,
    [
        struct_size,
        has_pid,
        pid,
        reserved,
        process_start_ns,
        process_path,
        user_name,
        user_id,
    ]
);

/// A context read from C: its strings decoded (lossily when they are not UTF-8).
pub(crate) struct OwnedContext<'a> {
    pid: Option<u32>,
    process_start_ns: u64,
    process_path: Option<Cow<'a, str>>,
    user_name: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    lossy: bool,
}

impl OwnedContext<'_> {
    pub(crate) fn as_ref(&self) -> ContextRef<'_> {
        ContextRef {
            pid: self.pid,
            process_start_ns: self.process_start_ns,
            process_path: self.process_path.as_deref(),
            user_name: self.user_name.as_deref(),
            user_id: self.user_id.as_deref(),
            lossy: self.lossy,
        }
    }
}

/// Read a caller's optional context pointer. NULL is "no context" (`Ok(None)`); a context with a
/// bad `struct_size` is `Err(StructSize)`, which the calls that take packets count and ignore.
///
/// # Safety
/// `ctx` is NULL or points to a context readable for its `struct_size` bytes, whose strings are
/// NULL or NUL-terminated (or readable up to their maximum + 1 bytes), valid for `'a`.
pub(crate) unsafe fn read_context<'a>(
    ctx: *const cloudsight_context,
) -> Result<Option<OwnedContext<'a>>, cloudsight_result> {
    if ctx.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from the caller's contract.
    let c = unsafe { super::abi::read_input(ctx, cloudsight_context::zeroed()) }?;
    let mut lossy = false;
    let mut text = |ptr: *const c_char, max: u32| -> Option<Cow<'a, str>> {
        // One byte past the maximum is read so that the engine sees (cuts and counts) an
        // over-long string.
        // SAFETY: forwarded from the caller's contract on the string fields.
        let (bytes, _) = unsafe { bounded_bytes(ptr, max as usize + 1) };
        let text = String::from_utf8_lossy(bytes?);
        lossy |= matches!(text, Cow::Owned(_));
        Some(text)
    };
    let process_path = text(c.process_path, CLOUDSIGHT_MAX_PROCESS_PATH);
    let user_name = text(c.user_name, CLOUDSIGHT_MAX_USER_FIELD);
    let user_id = text(c.user_id, CLOUDSIGHT_MAX_USER_FIELD);
    Ok(Some(OwnedContext {
        pid: (c.has_pid != 0).then_some(c.pid),
        process_start_ns: c.process_start_ns,
        process_path,
        user_name,
        user_id,
        lossy,
    }))
}

/// Engine configuration. Set `struct_size` to `sizeof(cloudsight_config)`, fill it with
/// `cloudsight_config_default`, then change what you need. Fields past a caller's `struct_size`
/// take their defaults. The device strings (at most 1024 bytes, UTF-8) are copied by
/// `cloudsight_engine_new`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_config {
    /// `sizeof(cloudsight_config)` as the caller's header declares it.
    pub struct_size: u32,
    /// Community ID seed (0 unless your deployment sets one; at most 65535).
    pub community_id_seed: u32,
    /// Device id copied into every record (NUL-terminated UTF-8, or NULL for "").
    pub device_id: *const c_char,
    /// Device name copied into every record (NUL-terminated UTF-8, or NULL for "").
    pub device_name: *const c_char,
    /// Most flows tracked at once.
    pub max_flows: u64,
    /// Memory cap of the flow table in bytes (the flow bound is lowered to fit).
    pub max_table_bytes: u64,
    /// Idle timeout of TCP flows, ns.
    pub tcp_idle_timeout_ns: u64,
    /// Idle timeout of UDP flows, ns.
    pub udp_idle_timeout_ns: u64,
    /// How long an ended TCP connection lingers for trailing packets, ns.
    pub tcp_linger_ns: u64,
    /// Long flows emit an update record this often, ns.
    pub active_timeout_ns: u64,
    /// Records held for draining; when full, the oldest is dropped and counted.
    pub queue_capacity: u64,
    /// Context bindings held for flows not seen yet.
    pub max_pending_bindings: u64,
    /// How long a binding waits for its flow, ns.
    pub binding_ttl_ns: u64,
    /// IP datagrams reassembled at once (0: no reassembly).
    pub max_fragments: u64,
    /// Bytes all flows' inspection buffers may hold together.
    pub max_inspect_bytes: u64,
    /// Addresses the DNS cache remembers.
    pub dns_cache_entries: u64,
    /// Shortest time a DNS answer is remembered, s.
    pub dns_ttl_floor_s: u32,
    /// Longest time a DNS answer is remembered, s.
    pub dns_ttl_ceiling_s: u32,
    /// Bytes all IP datagrams being reassembled may hold together.
    pub max_defrag_bytes: u64,
    /// How long a fragmented datagram may take to arrive whole, ns.
    pub defrag_timeout_ns: u64,
    /// Bytes the queued records may hold together; past it the oldest is dropped and counted.
    pub max_queue_bytes: u64,
    /// Length of a usage-report window, ns; 0 turns usage reports off.
    pub usage_window_ns: u64,
    /// Most usage rows per window; past it new keys fold into one overflow row.
    pub max_usage_rows: u64,
    /// `CLOUDSIGHT_CONFIG_*` option bits (0 by default); a bit this library does not know is
    /// `CLOUDSIGHT_RESULT_INVALID_CONFIG`. Added in 0.2.0.
    pub options: u64,
}

/// `cloudsight_config::options` bit: leave each record's `community_id` empty instead of computing
/// it (a SHA-1 and a string per record): for consumers that never join records with Zeek or
/// Suricata logs.
pub const CLOUDSIGHT_CONFIG_SKIP_COMMUNITY_ID: u64 = 1 << 0;
/// Every `cloudsight_config::options` bit this library knows.
const KNOWN_OPTIONS: u64 = CLOUDSIGHT_CONFIG_SKIP_COMMUNITY_ID;

impl Zeroed for cloudsight_config {
    fn zeroed() -> Self {
        cloudsight_config {
            struct_size: 0,
            community_id_seed: 0,
            device_id: std::ptr::null(),
            device_name: std::ptr::null(),
            max_flows: 0,
            max_table_bytes: 0,
            tcp_idle_timeout_ns: 0,
            udp_idle_timeout_ns: 0,
            tcp_linger_ns: 0,
            active_timeout_ns: 0,
            queue_capacity: 0,
            max_pending_bindings: 0,
            binding_ttl_ns: 0,
            max_fragments: 0,
            max_inspect_bytes: 0,
            dns_cache_entries: 0,
            dns_ttl_floor_s: 0,
            dns_ttl_ceiling_s: 0,
            max_defrag_bytes: 0,
            defrag_timeout_ns: 0,
            max_queue_bytes: 0,
            usage_window_ns: 0,
            max_usage_rows: 0,
            options: 0,
        }
    }
}

versioned!(
    cloudsight_config,
    min = struct_size,
    [
        struct_size,
        community_id_seed,
        device_id,
        device_name,
        max_flows,
        max_table_bytes,
        tcp_idle_timeout_ns,
        udp_idle_timeout_ns,
        tcp_linger_ns,
        active_timeout_ns,
        queue_capacity,
        max_pending_bindings,
        binding_ttl_ns,
        max_fragments,
        max_inspect_bytes,
        dns_cache_entries,
        dns_ttl_floor_s,
        dns_ttl_ceiling_s,
        max_defrag_bytes,
        defrag_timeout_ns,
        max_queue_bytes,
        usage_window_ns,
        max_usage_rows,
        options,
    ]
);

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl cloudsight_config {
    /// The C form of a Rust configuration (device strings NULL). The destructuring names every
    /// field of `Config`: a field added there fails to compile here until C carries it.
    pub(crate) fn from_config(c: &Config) -> cloudsight_config {
        let Config {
            device: _,
            max_flows,
            max_table_bytes,
            tcp_idle_timeout_ns,
            udp_idle_timeout_ns,
            tcp_linger_ns,
            active_timeout_ns,
            queue_capacity,
            max_pending_bindings,
            binding_ttl_ns,
            max_fragments,
            community_id_seed,
            skip_community_id,
            max_inspect_bytes,
            dns_cache_entries,
            dns_ttl_floor_s,
            dns_ttl_ceiling_s,
            max_defrag_bytes,
            defrag_timeout_ns,
            max_queue_bytes,
            usage_window_ns,
            max_usage_rows,
        } = c.clone();
        cloudsight_config {
            struct_size: std::mem::size_of::<cloudsight_config>() as u32,
            community_id_seed: u32::from(community_id_seed),
            device_id: std::ptr::null(),
            device_name: std::ptr::null(),
            max_flows: max_flows as u64,
            max_table_bytes: max_table_bytes as u64,
            tcp_idle_timeout_ns,
            udp_idle_timeout_ns,
            tcp_linger_ns,
            active_timeout_ns,
            queue_capacity: queue_capacity as u64,
            max_pending_bindings: max_pending_bindings as u64,
            binding_ttl_ns,
            max_fragments: max_fragments as u64,
            max_inspect_bytes: max_inspect_bytes as u64,
            dns_cache_entries: dns_cache_entries as u64,
            dns_ttl_floor_s,
            dns_ttl_ceiling_s,
            max_defrag_bytes: max_defrag_bytes as u64,
            defrag_timeout_ns,
            max_queue_bytes: max_queue_bytes as u64,
            usage_window_ns,
            max_usage_rows: max_usage_rows as u64,
            options: if skip_community_id {
                CLOUDSIGHT_CONFIG_SKIP_COMMUNITY_ID
            } else {
                0
            },
        }
    }

    /// The Rust configuration of a C one.
    ///
    /// # Safety
    /// The device strings are NULL or NUL-terminated (or readable for 1025 bytes).
    pub(crate) unsafe fn rust_config(&self) -> Result<Config, cloudsight_result> {
        // SAFETY: forwarded from the caller's contract on the string fields.
        let (id, name) = unsafe {
            (
                exact_str(self.device_id, MAX_ARG_TEXT)?,
                exact_str(self.device_name, MAX_ARG_TEXT)?,
            )
        };
        // A queue of records is allocated up front: refuse sizes that cannot be meant.
        if self.queue_capacity > 1 << 26 || self.max_fragments > 1 << 24 {
            return Err(cloudsight_result::InvalidConfig);
        }
        let Ok(community_id_seed) = u16::try_from(self.community_id_seed) else {
            return Err(cloudsight_result::InvalidConfig);
        };
        if self.options & !KNOWN_OPTIONS != 0 {
            return Err(cloudsight_result::InvalidConfig);
        }
        Ok(Config {
            device: Device {
                id: id.unwrap_or_default().to_owned(),
                name: name.unwrap_or_default().to_owned(),
            },
            max_flows: to_usize(self.max_flows),
            max_table_bytes: to_usize(self.max_table_bytes),
            tcp_idle_timeout_ns: self.tcp_idle_timeout_ns,
            udp_idle_timeout_ns: self.udp_idle_timeout_ns,
            tcp_linger_ns: self.tcp_linger_ns,
            active_timeout_ns: self.active_timeout_ns,
            queue_capacity: to_usize(self.queue_capacity),
            max_pending_bindings: to_usize(self.max_pending_bindings),
            binding_ttl_ns: self.binding_ttl_ns,
            max_fragments: to_usize(self.max_fragments),
            community_id_seed,
            skip_community_id: self.options & CLOUDSIGHT_CONFIG_SKIP_COMMUNITY_ID != 0,
            max_inspect_bytes: to_usize(self.max_inspect_bytes),
            dns_cache_entries: to_usize(self.dns_cache_entries),
            dns_ttl_floor_s: self.dns_ttl_floor_s,
            dns_ttl_ceiling_s: self.dns_ttl_ceiling_s,
            max_defrag_bytes: to_usize(self.max_defrag_bytes),
            defrag_timeout_ns: self.defrag_timeout_ns,
            max_queue_bytes: to_usize(self.max_queue_bytes),
            usage_window_ns: self.usage_window_ns,
            max_usage_rows: to_usize(self.max_usage_rows),
        })
    }
}

/// Engine counters (see the Rust `Stats` for each field's meaning). Set `struct_size` to
/// `sizeof(cloudsight_stats)` before `cloudsight_engine_stats`; it comes back as the bytes the
/// library filled.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_stats {
    /// In: `sizeof(cloudsight_stats)` as the caller's header declares it. Out: bytes filled.
    pub struct_size: u32,
    /// 1 when the engine is poisoned (an internal error; see CLOUDSIGHT_RESULT_POISONED).
    pub poisoned: u32,
    /// Frames given to the engine.
    pub packets: u64,
    /// IP bytes of frames that parsed as IP (of the inner packet for a tunnelled frame).
    pub ip_bytes: u64,
    /// Frames whose link-layer header was cut short.
    pub drop_link_truncated: u64,
    /// Frames that were not IP.
    pub drop_not_ip: u64,
    /// Frames with a malformed or truncated IP header.
    pub drop_ip_malformed: u64,
    /// IP packets of protocols other than TCP and UDP.
    pub drop_other_protocol: u64,
    /// TCP/UDP headers cut short before their ports.
    pub drop_transport_malformed: u64,
    /// IP fragments of TCP and UDP datagrams taken in (first ones included).
    pub fragments: u64,
    /// IP fragments counted in no flow (datagram never whole, or dropped without its first fragment).
    pub fragments_orphaned: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows evicted from a full table.
    pub flows_evicted: u64,
    /// Flows tracked now.
    pub flows_active: u64,
    /// Most flows tracked at once.
    pub flows_peak: u64,
    /// The flow bound in force.
    pub flow_capacity: u64,
    /// Context bindings accepted.
    pub bindings: u64,
    /// Context bindings dropped.
    pub bindings_dropped: u64,
    /// Records produced.
    pub records: u64,
    /// Records dropped because the queue was full.
    pub records_dropped: u64,
    /// Records waiting to be drained.
    pub records_queued: u64,
    /// Flows not inspected because inspection memory was at its cap.
    pub inspect_skipped: u64,
    /// Bytes held by inspection buffers now.
    pub inspect_memory: u64,
    /// Addresses in the DNS cache now.
    pub dns_cache_entries: u64,
    /// Contexts whose `struct_size` could not be served: the packet went on without them.
    pub context_invalid: u64,
    /// Names (SNI, Host, DNS) with bytes that were escaped as `\xHH` (NUL, control, not UTF-8).
    pub names_escaped: u64,
    /// Names over 253 bytes cut to their rightmost labels.
    pub names_cut: u64,
    /// Packets and bindings whose context text was not UTF-8 (decoded with U+FFFD).
    pub context_lossy: u64,
    /// Context strings cut to their maximum length.
    pub context_cut: u64,
    /// Distinct contexts held once for all the flows that share them, now.
    pub contexts_interned: u64,
    /// Fragmented IP datagrams reassembled and inspected whole.
    pub defrag_reassembled: u64,
    /// Fragmented datagrams given up incomplete after `defrag_timeout_ns`.
    pub defrag_timed_out: u64,
    /// Fragmented datagrams dropped for overlapping or malformed fragments.
    pub defrag_overlap_dropped: u64,
    /// Fragmented datagrams given up for the reassembly bounds.
    pub defrag_over_budget: u64,
    /// Bytes held by datagrams being reassembled now.
    pub defrag_memory: u64,
    /// ClientHello ALPN lists cut to 8 protocols / 128 bytes.
    pub alpn_cut: u64,
    /// Bytes the queued records cost now (bounded by `max_queue_bytes`).
    pub records_queued_bytes: u64,
    /// Usage rows emitted (their window closed).
    pub usage_rows: u64,
    /// Records folded into a window's overflow row (`max_usage_rows` reached).
    pub usage_rows_folded: u64,
    /// Usage rows dropped undrained.
    pub usage_rows_dropped: u64,
    /// Frames whose tunnel or encapsulation header (PPPoE, PPP, NFLOG, GRE, MPLS, GTP-U, the
    /// Ethernet frame inside VXLAN or GRE) was malformed, unsupported or cut short.
    pub drop_encap_malformed: u64,
    /// Frames with more than 8 encapsulation layers.
    pub drop_encap_too_deep: u64,
    /// TLS hellos or HTTP request headers whose bytes came twice with different values
    /// (overlapping segments, a decoy before or after the real one), read both ways: the
    /// stricter verdict holds.
    pub hellos_reread: u64,
}

impl Zeroed for cloudsight_stats {
    fn zeroed() -> Self {
        cloudsight_stats::from_stats(&Stats::default(), false, 0)
    }
}

versioned!(
    cloudsight_stats,
    min = struct_size,
    [
        struct_size,
        poisoned,
        packets,
        ip_bytes,
        drop_link_truncated,
        drop_not_ip,
        drop_ip_malformed,
        drop_other_protocol,
        drop_transport_malformed,
        fragments,
        fragments_orphaned,
        flows_created,
        flows_evicted,
        flows_active,
        flows_peak,
        flow_capacity,
        bindings,
        bindings_dropped,
        records,
        records_dropped,
        records_queued,
        inspect_skipped,
        inspect_memory,
        dns_cache_entries,
        context_invalid,
        names_escaped,
        names_cut,
        context_lossy,
        context_cut,
        contexts_interned,
        defrag_reassembled,
        defrag_timed_out,
        defrag_overlap_dropped,
        defrag_over_budget,
        defrag_memory,
        alpn_cut,
        records_queued_bytes,
        usage_rows,
        usage_rows_folded,
        usage_rows_dropped,
        drop_encap_malformed,
        drop_encap_too_deep,
        hellos_reread,
    ]
);

impl cloudsight_stats {
    /// The C form of the Rust counters. The destructuring names every field of `Stats`: a field
    /// added there fails to compile here until C carries it.
    pub(crate) fn from_stats(s: &Stats, poisoned: bool, context_invalid: u64) -> cloudsight_stats {
        let Stats {
            packets,
            ip_bytes,
            drop_link_truncated,
            drop_not_ip,
            drop_ip_malformed,
            drop_other_protocol,
            drop_transport_malformed,
            fragments,
            fragments_orphaned,
            flows_created,
            flows_evicted,
            flows_active,
            flows_peak,
            flow_capacity,
            bindings,
            bindings_dropped,
            records,
            records_dropped,
            records_queued,
            inspect_skipped,
            inspect_memory,
            dns_cache_entries,
            names_escaped,
            names_cut,
            context_lossy,
            context_cut,
            contexts_interned,
            defrag_reassembled,
            defrag_timed_out,
            defrag_overlap_dropped,
            defrag_over_budget,
            defrag_memory,
            alpn_cut,
            records_queued_bytes,
            usage_rows,
            usage_rows_folded,
            usage_rows_dropped,
            drop_encap_malformed,
            drop_encap_too_deep,
            hellos_reread,
        } = *s;
        cloudsight_stats {
            struct_size: std::mem::size_of::<cloudsight_stats>() as u32,
            poisoned: u32::from(poisoned),
            packets,
            ip_bytes,
            drop_link_truncated,
            drop_not_ip,
            drop_ip_malformed,
            drop_other_protocol,
            drop_transport_malformed,
            fragments,
            fragments_orphaned,
            flows_created,
            flows_evicted,
            flows_active,
            flows_peak,
            flow_capacity,
            bindings,
            bindings_dropped,
            records,
            records_dropped,
            records_queued,
            inspect_skipped,
            inspect_memory,
            dns_cache_entries,
            context_invalid,
            names_escaped,
            names_cut,
            context_lossy,
            context_cut,
            contexts_interned,
            defrag_reassembled,
            defrag_timed_out,
            defrag_overlap_dropped,
            defrag_over_budget,
            defrag_memory,
            alpn_cut,
            records_queued_bytes,
            usage_rows,
            usage_rows_folded,
            usage_rows_dropped,
            drop_encap_malformed,
            drop_encap_too_deep,
            hellos_reread,
        }
    }
}
