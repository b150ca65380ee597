//! Stream input: sensors that see reassembled streams (Windows WFP stream layer, macOS
//! NetworkExtension) hand over connection events and bytes instead of packets.

use super::{Engine, Input};
use crate::context::{ContextRef, FlowTuple};
use crate::flow::FlowKey;
use crate::packet::PacketView;
use crate::record::{Event, Reason, Verdict};

/// Which way stream bytes go, relative to the tuple given to [`Engine::open_flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDirection {
    /// From the tuple's `src` (the client) to its `dst` (the server).
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

/// The packet a stream call stands for.
fn stream_view<'a>(
    tuple: &FlowTuple,
    direction: StreamDirection,
    data: &'a [u8],
    ip_len: u32,
) -> PacketView<'a> {
    let (src, src_port, dst, dst_port) = match direction {
        StreamDirection::ClientToServer => (tuple.src, tuple.src_port, tuple.dst, tuple.dst_port),
        StreamDirection::ServerToClient => (tuple.dst, tuple.dst_port, tuple.src, tuple.src_port),
    };
    PacketView {
        src,
        dst,
        transport: tuple.transport,
        src_port,
        dst_port,
        tcp_flags: 0,
        seq: 0,
        ack: 0,
        ip_len,
        payload: data,
        packets: 1,
    }
}

impl Engine {
    /// A stream sensor's connection event (Windows WFP ALE connect, macOS NetworkExtension new
    /// flow): `tuple.src` is the client, `tuple.dst` the server. Creates the flow (named from DNS
    /// if an answer named the server) and returns its verdict, so a connection to an unsanctioned
    /// app named by DNS can be refused before any byte is sent.
    pub fn open_flow(
        &self,
        tuple: &FlowTuple,
        context: Option<ContextRef<'_>>,
        ts_ns: u64,
    ) -> Verdict {
        let view = stream_view(tuple, StreamDirection::ClientToServer, &[], 0);
        self.on_packet(&view, ts_ns, context, Input::StreamOpen)
    }

    /// Bytes of a stream, in order, as the OS hands them over (`data` may be only the start of
    /// what was sent; inspection needs only the first few KiB). `wire_bytes` is what the sensor
    /// counts for this chunk on the wire (IP bytes if it knows them, else payload bytes): records
    /// sum it into `bytes_up`/`bytes_down`, and count each call as one packet. Flows not opened
    /// with [`Engine::open_flow`] are opened with `tuple.src` as client.
    pub fn stream_data(
        &self,
        tuple: &FlowTuple,
        direction: StreamDirection,
        data: &[u8],
        wire_bytes: u64,
        ts_ns: u64,
    ) -> Verdict {
        let (key, _) = FlowKey::from_tuple(tuple);
        if self.table.with_entry(&key, |_| ()).is_none() {
            self.open_flow(tuple, None, ts_ns);
        }
        let wire = u32::try_from(wire_bytes).unwrap_or(u32::MAX);
        let view = stream_view(tuple, direction, data, wire);
        self.on_packet(&view, ts_ns, None, Input::StreamData)
    }

    /// A stream sensor's close event: the flow ends now (reason `fin`) and its record is queued.
    /// Returns false when no such flow is tracked.
    pub fn close_flow(&self, tuple: &FlowTuple, ts_ns: u64) -> bool {
        let (key, _) = FlowKey::from_tuple(tuple);
        match self.table.remove(&key) {
            Some(mut e) => {
                e.last_seen = e.last_seen.max(ts_ns);
                let record = self.record(&key, &mut e, Event::Close, Some(Reason::Fin));
                self.queue.push(record);
                true
            }
            None => false,
        }
    }
}
