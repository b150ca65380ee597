//! Plain C structs and enums of the ABI, and their conversions to the Rust API's types.

use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{cloudsight_result, opt_str};
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

/// An IPv4 or IPv6 address.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cloudsight_ip {
    /// `CLOUDSIGHT_IP_FAMILY_V4` or `CLOUDSIGHT_IP_FAMILY_V6` (a `cloudsight_ip_family`).
    pub family: u8,
    /// The address bytes in network order; IPv4 uses the first 4.
    pub addr: [u8; 16],
}

impl cloudsight_ip {
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

/// A flow's 5-tuple as the sensor knows it (either direction; the library orders it).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cloudsight_flow_tuple {
    /// IP protocol number: 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// One endpoint's address.
    pub src: cloudsight_ip,
    /// That endpoint's port.
    pub src_port: u16,
    /// The other endpoint's address.
    pub dst: cloudsight_ip,
    /// The other endpoint's port.
    pub dst_port: u16,
}

/// Read a caller's tuple pointer.
///
/// # Safety
/// `tuple` is NULL or points to a readable `cloudsight_flow_tuple`.
pub(crate) unsafe fn read_tuple(
    tuple: *const cloudsight_flow_tuple,
) -> Result<FlowTuple, cloudsight_result> {
    if tuple.is_null() {
        return Err(cloudsight_result::NullParameter);
    }
    // SAFETY: non-NULL and readable (caller contract).
    unsafe { *tuple }.to_tuple()
}

/// Read a caller's optional context pointer (NULL is "no context").
///
/// # Safety
/// `ctx` is NULL or points to a `cloudsight_context` whose strings are NULL or NUL-terminated
/// and outlive `'a`.
pub(crate) unsafe fn read_context<'a>(
    ctx: *const cloudsight_context,
) -> Result<Option<ContextRef<'a>>, cloudsight_result> {
    if ctx.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL; forwarded from the caller's contract.
    unsafe { (*ctx).context_ref() }.map(Some)
}

impl cloudsight_flow_tuple {
    pub(crate) fn to_tuple(self) -> Result<FlowTuple, cloudsight_result> {
        let transport = match self.protocol {
            6 => Transport::Tcp,
            17 => Transport::Udp,
            _ => return Err(cloudsight_result::InvalidArgument),
        };
        Ok(FlowTuple {
            transport,
            src: self.src.to_ip()?,
            src_port: self.src_port,
            dst: self.dst.to_ip()?,
            dst_port: self.dst_port,
        })
    }
}

/// Process and user context of a packet or a flow. Strings are NUL-terminated UTF-8 or NULL
/// (unknown); the library copies what it keeps, so they need only live for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_context {
    /// Whether `pid` is set.
    pub has_pid: bool,
    /// Process id.
    pub pid: u32,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path, or NULL.
    pub process_path: *const c_char,
    /// User account name, or NULL.
    pub user_name: *const c_char,
    /// User id (Windows SID or Unix uid as text), or NULL.
    pub user_id: *const c_char,
}

impl cloudsight_context {
    /// # Safety
    /// The string pointers are NULL or NUL-terminated strings valid for `'a`.
    pub(crate) unsafe fn context_ref<'a>(&self) -> Result<ContextRef<'a>, cloudsight_result> {
        // SAFETY: forwarded from the caller's contract on the string fields.
        unsafe {
            Ok(ContextRef {
                pid: self.has_pid.then_some(self.pid),
                process_start_ns: self.process_start_ns,
                process_path: opt_str(self.process_path)?,
                user_name: opt_str(self.user_name)?,
                user_id: opt_str(self.user_id)?,
                lossy: false,
            })
        }
    }
}

/// Engine configuration. Fill it with `cloudsight_config_default`, then change what you need.
/// The device strings are copied by `cloudsight_engine_new`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cloudsight_config {
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
    /// IP datagrams whose later fragments are tracked at once.
    pub max_fragments: u64,
    /// Community ID seed (0 unless your deployment sets one).
    pub community_id_seed: u16,
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl cloudsight_config {
    pub(crate) fn from_config(c: &Config) -> cloudsight_config {
        cloudsight_config {
            device_id: std::ptr::null(),
            device_name: std::ptr::null(),
            max_flows: c.max_flows as u64,
            max_table_bytes: c.max_table_bytes as u64,
            tcp_idle_timeout_ns: c.tcp_idle_timeout_ns,
            udp_idle_timeout_ns: c.udp_idle_timeout_ns,
            tcp_linger_ns: c.tcp_linger_ns,
            active_timeout_ns: c.active_timeout_ns,
            queue_capacity: c.queue_capacity as u64,
            max_pending_bindings: c.max_pending_bindings as u64,
            binding_ttl_ns: c.binding_ttl_ns,
            max_fragments: c.max_fragments as u64,
            community_id_seed: c.community_id_seed,
        }
    }

    /// # Safety
    /// The device strings are NULL or NUL-terminated.
    pub(crate) unsafe fn rust_config(&self) -> Result<Config, cloudsight_result> {
        // SAFETY: forwarded from the caller's contract on the string fields.
        let (id, name) = unsafe { (opt_str(self.device_id)?, opt_str(self.device_name)?) };
        // A queue of records is allocated up front: refuse sizes that cannot be meant.
        if self.queue_capacity > 1 << 26 || self.max_fragments > 1 << 24 {
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
            community_id_seed: self.community_id_seed,
            ..Config::default()
        })
    }
}

/// Engine counters (see the Rust `Stats` for each field's meaning).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cloudsight_stats {
    /// Frames given to the engine.
    pub packets: u64,
    /// IP bytes of frames that parsed as IP.
    pub ip_bytes: u64,
    /// Frames whose link-layer header was cut short.
    pub drop_link_truncated: u64,
    /// Frames that were not IP.
    pub drop_not_ip: u64,
    /// Frames with a malformed or truncated IP header.
    pub drop_ip_malformed: u64,
    /// IP packets of protocols other than TCP and UDP.
    pub drop_other_protocol: u64,
    /// Malformed or truncated TCP/UDP headers.
    pub drop_transport_malformed: u64,
    /// Non-first IP fragments counted toward their flow.
    pub fragments: u64,
    /// Non-first IP fragments whose first fragment was never seen.
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
}

impl From<Stats> for cloudsight_stats {
    fn from(s: Stats) -> Self {
        cloudsight_stats {
            packets: s.packets,
            ip_bytes: s.ip_bytes,
            drop_link_truncated: s.drop_link_truncated,
            drop_not_ip: s.drop_not_ip,
            drop_ip_malformed: s.drop_ip_malformed,
            drop_other_protocol: s.drop_other_protocol,
            drop_transport_malformed: s.drop_transport_malformed,
            fragments: s.fragments,
            fragments_orphaned: s.fragments_orphaned,
            flows_created: s.flows_created,
            flows_evicted: s.flows_evicted,
            flows_active: s.flows_active,
            flows_peak: s.flows_peak,
            flow_capacity: s.flow_capacity,
            bindings: s.bindings,
            bindings_dropped: s.bindings_dropped,
            records: s.records,
            records_dropped: s.records_dropped,
            records_queued: s.records_queued,
        }
    }
}
