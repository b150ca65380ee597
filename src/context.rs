//! Who is behind a flow: the device (fixed per engine), and the process and user (per flow).
//!
//! Context comes from the sensor, never from the wire. A flow keeps the latest context given for it,
//! whether it came with a packet or through a binding by 5-tuple, before or after the first packet.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::packet::Transport;

/// The device the engine runs on; copied into every record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Stable device id (e.g. the EDR's machine id).
    pub id: String,
    /// Human-readable device name.
    pub name: String,
}

/// The process that owns a flow's socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Process start time, ns since the Unix epoch (with `pid`, names the process uniquely).
    pub start_time_ns: u64,
    /// Image path, if known.
    pub path: Option<String>,
}

/// The user a flow's process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// Account name (e.g. `CORP\alice`).
    pub name: Option<String>,
    /// Account id: a Windows SID or a Unix uid as text.
    pub id: Option<String>,
}

/// Process and user context for one flow, owned by the flow (the latest one given wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FlowContext {
    /// Process id, if known.
    pub pid: Option<u32>,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path.
    pub process_path: Option<String>,
    /// User account name.
    pub user_name: Option<String>,
    /// User id: a Windows SID or a Unix uid as text.
    pub user_id: Option<String>,
}

/// Borrowed process and user context, as a sensor passes it with each packet. The engine copies it
/// only when it differs from what the flow already holds, so passing it with every packet is cheap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextRef<'a> {
    /// Process id, if known.
    pub pid: Option<u32>,
    /// Process start time, ns since the Unix epoch (0 if unknown).
    pub process_start_ns: u64,
    /// Process image path.
    pub process_path: Option<&'a str>,
    /// User account name.
    pub user_name: Option<&'a str>,
    /// User id: a Windows SID or a Unix uid as text.
    pub user_id: Option<&'a str>,
    /// The sensor's strings were not valid UTF-8 and were decoded with U+FFFD replacement.
    pub lossy: bool,
}

impl ContextRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> FlowContext {
        FlowContext {
            pid: self.pid,
            process_start_ns: self.process_start_ns,
            process_path: self.process_path.map(str::to_owned),
            user_name: self.user_name.map(str::to_owned),
            user_id: self.user_id.map(str::to_owned),
        }
    }

    /// Whether `owned` holds the same context.
    pub fn same_as(&self, owned: &FlowContext) -> bool {
        self.pid == owned.pid
            && self.process_start_ns == owned.process_start_ns
            && self.process_path == owned.process_path.as_deref()
            && self.user_name == owned.user_name.as_deref()
            && self.user_id == owned.user_id.as_deref()
    }
}

impl FlowContext {
    /// A borrowed view.
    pub fn as_ref(&self) -> ContextRef<'_> {
        ContextRef {
            pid: self.pid,
            process_start_ns: self.process_start_ns,
            process_path: self.process_path.as_deref(),
            user_name: self.user_name.as_deref(),
            user_id: self.user_id.as_deref(),
            lossy: false,
        }
    }

    /// The record's `process` object: present when a pid or a path is known.
    pub fn process(&self) -> Option<Process> {
        (self.pid.is_some() || self.process_path.is_some()).then(|| Process {
            pid: self.pid.unwrap_or(0),
            start_time_ns: self.process_start_ns,
            path: self.process_path.clone(),
        })
    }

    /// The record's `user` object: present when a name or an id is known.
    pub fn user(&self) -> Option<User> {
        (self.user_name.is_some() || self.user_id.is_some()).then(|| User {
            name: self.user_name.clone(),
            id: self.user_id.clone(),
        })
    }
}

/// A flow's 5-tuple as a sensor names it (either direction: the engine orders it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// TCP or UDP.
    pub transport: Transport,
    /// One endpoint's address.
    pub src: IpAddr,
    /// That endpoint's port.
    pub src_port: u16,
    /// The other endpoint's address.
    pub dst: IpAddr,
    /// The other endpoint's port.
    pub dst_port: u16,
}
