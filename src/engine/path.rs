//! The packet path: a frame in, its flow counted and inspected, a verdict out.

use std::sync::atomic::Ordering;

use super::stats::bump;
use super::{Engine, Error, Input};
use crate::context::ContextRef;
use crate::defrag::{Added, GiveUp, GivenUp};
use crate::flow::{Evidence, FlowEntry, FlowKey, Side};
use crate::inspect::{dns, lower_name, HelloInfo, Inspector, Name, Step};
use crate::naming;
use crate::naming::FlowName;
use crate::packet::{
    self, tcp_flags, DropReason, Fragment, LinkType, PacketView, Parsed, Transport,
};
use crate::record::{Event, NameSource, Reason, Verdict};

/// TCP flags that change a flow's state or client evidence.
const TCP_EVENTS: u8 = tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST;

/// Longest ALPN list a flow keeps: this many protocols ...
const MAX_ALPN_PROTOCOLS: usize = 8;
/// ... and this many bytes as on the wire (each protocol with its length byte).
const MAX_ALPN_BYTES: usize = 128;

/// The ALPN list (wire form) cut to the whole protocols within [`MAX_ALPN_PROTOCOLS`] and
/// [`MAX_ALPN_BYTES`], and whether anything was cut.
fn cap_alpn(alpn: Box<[u8]>) -> (Box<[u8]>, bool) {
    let mut end = 0;
    let mut count = 0;
    while end < alpn.len() && count < MAX_ALPN_PROTOCOLS {
        let next = end + 1 + usize::from(alpn[end]);
        if next > alpn.len() || next > MAX_ALPN_BYTES {
            break;
        }
        end = next;
        count += 1;
    }
    if end == alpn.len() {
        (alpn, false)
    } else {
        (alpn[..end].into(), true)
    }
}

/// DNS (port 53), mDNS (5353) and LLMNR (5355, RFC 4795: DNS messages between neighbours), by
/// either port.
fn is_dns_port(view: &PacketView<'_>) -> bool {
    matches!(view.src_port, 53 | 5353 | 5355) || matches!(view.dst_port, 53 | 5353 | 5355)
}

impl Engine {
    /// Take one captured frame. `ts_ns` is the capture time (ns since the Unix epoch); `context`
    /// names the process and user behind it, when the sensor knows them. Frames that are not TCP or
    /// UDP over IP are counted in [`Stats`](crate::Stats) and answered [`Verdict::Allow`].
    pub fn process_packet(
        &self,
        link: LinkType,
        frame: &[u8],
        ts_ns: u64,
        context: Option<ContextRef<'_>>,
    ) -> Verdict {
        bump(self.counters.per_packet.frame());
        match packet::parse(link, frame) {
            Ok(Parsed::Packet(view)) => self.on_view(&view, ts_ns, context),
            Ok(other) => self
                .on_parsed(other, ts_ns, context)
                .unwrap_or_else(|drop| self.on_drop(drop)),
            Err(drop) => self.on_drop(drop),
        }
    }

    /// Whatever a frame turned out to be, through the packet path.
    fn on_parsed(
        &self,
        parsed: Parsed<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
    ) -> Result<Verdict, DropReason> {
        match parsed {
            Parsed::Packet(view) => Ok(self.on_view(&view, ts, context)),
            Parsed::Fragment(fragment) => Ok(self.on_ip_fragment(&fragment, ts, context)),
            Parsed::Aggregate(msdus) => self.on_aggregate(msdus, ts, context),
            Parsed::Compressed(compressed) => self.on_compressed(&compressed, ts, context),
        }
    }

    /// An IPComp payload: inflated (at most [`packet::MAX_INFLATED`] bytes, into a buffer of
    /// its own that lives for this frame only), then the packet inside through the packet path.
    /// A payload that does not inflate is [`DropReason::EncapMalformed`].
    #[cold]
    #[inline(never)]
    fn on_compressed(
        &self,
        compressed: &packet::Compressed<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
    ) -> Result<Verdict, DropReason> {
        let plain = packet::inflate(compressed.data).ok_or(DropReason::EncapMalformed)?;
        let parsed = packet::inflated(compressed, &plain)?;
        self.on_parsed(parsed, ts, context)
    }

    /// One whole TCP/UDP packet of a frame.
    #[inline]
    fn on_view(&self, view: &PacketView<'_>, ts: u64, context: Option<ContextRef<'_>>) -> Verdict {
        self.counters
            .per_packet
            .ip_bytes()
            .fetch_add(u64::from(view.ip_len), Ordering::Relaxed);
        self.on_packet(view, ts, context, Input::Packet)
    }

    /// One IP fragment of a frame.
    fn on_ip_fragment(
        &self,
        fragment: &Fragment<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
    ) -> Verdict {
        self.counters
            .per_packet
            .ip_bytes()
            .fetch_add(u64::from(fragment.ip_len), Ordering::Relaxed);
        bump(&self.counters.fragments);
        self.on_fragment(fragment, ts, context)
    }

    /// A frame that is no flow packet: counted by its reason, allowed.
    fn on_drop(&self, drop: DropReason) -> Verdict {
        bump(match drop {
            DropReason::LinkTruncated => &self.counters.drop_link_truncated,
            DropReason::NotIp => &self.counters.drop_not_ip,
            DropReason::IpMalformed => &self.counters.drop_ip_malformed,
            DropReason::OtherProtocol => &self.counters.drop_other_protocol,
            DropReason::TransportMalformed => &self.counters.drop_transport_malformed,
            DropReason::EncapMalformed => &self.counters.drop_encap_malformed,
            DropReason::EncapTooDeep => &self.counters.drop_encap_too_deep,
        });
        Verdict::Allow
    }

    /// The packets of an 802.11 A-MSDU, each through the packet path; the strictest of their
    /// verdicts. The frame is a drop (the first subframe's reason; `NotIp` for an A-MSDU without
    /// subframes) only when none of its subframes is a packet or fragment; subframes that are
    /// not, beside ones that are, are not counted. An A-MSDU nested in a subframe's tunnel (each
    /// nesting is at least one more encapsulation layer, so within [`packet::MAX_ENCAP_DEPTH`])
    /// is taken apart the same way.
    #[cold]
    #[inline(never)]
    fn on_aggregate(
        &self,
        msdus: packet::Msdus<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
    ) -> Result<Verdict, DropReason> {
        let mut verdict = None::<Verdict>;
        let mut first_drop = None;
        for msdu in msdus {
            let taken = msdu.and_then(|parsed| self.on_parsed(parsed, ts, context));
            match taken {
                Ok(v) => verdict = Some(verdict.map_or(v, |w| w.max(v))),
                Err(drop) => {
                    first_drop.get_or_insert(drop);
                }
            }
        }
        verdict.ok_or(first_drop.unwrap_or(DropReason::NotIp))
    }

    /// Like [`Engine::process_packet`], with the link type as a pcap LINKTYPE number.
    pub fn process_packet_linktype(
        &self,
        linktype: u32,
        frame: &[u8],
        ts_ns: u64,
        context: Option<ContextRef<'_>>,
    ) -> Result<Verdict, Error> {
        let link = LinkType::from_linktype(linktype).ok_or(Error::UnknownLinkType(linktype))?;
        Ok(self.process_packet(link, frame, ts_ns, context))
    }

    /// One IP fragment: held until its datagram is whole, which then goes through the packet path
    /// as one packet (inspected whole; counted as all its fragments). While a datagram is
    /// incomplete, its first fragment gets the verdict of its flow when the flow is known and
    /// other fragments [`Verdict::Allow`]; the fragment that completes it gets the flow's verdict,
    /// and a receiver cannot reassemble a datagram missing it.
    fn on_fragment(
        &self,
        fragment: &Fragment<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
    ) -> Verdict {
        let mut others = Vec::new();
        let added = self.defrag.add(fragment, ts, &mut others);
        // Datagrams of the same shard given up on the way (timed out, evicted).
        for up in others {
            self.give_up(up, None);
        }
        match added {
            // A first fragment tells its flow: a known flow's verdict (nothing counted yet).
            Added::Held if fragment.offset == 0 => {
                match packet::datagram(&fragment.id, fragment.data, 0, 0) {
                    Ok(view) => {
                        let (key, _) = FlowKey::new(
                            view.transport,
                            view.src,
                            view.src_port,
                            view.dst,
                            view.dst_port,
                        );
                        self.table
                            .with_entry(&key, |e| e.verdict)
                            .unwrap_or_default()
                    }
                    Err(_) => Verdict::Allow,
                }
            }
            Added::Held => Verdict::Allow,
            Added::Whole(whole) => {
                bump(&self.counters.defrag_reassembled);
                let ip_len = u32::try_from(whole.ip_bytes).unwrap_or(u32::MAX);
                let completing = fragment.ip_len;
                match packet::reassembled(
                    &whole.id,
                    &whole.data,
                    ip_len,
                    whole.fragments,
                    completing,
                ) {
                    Ok(view) => self.on_packet(&view, ts, context, Input::Packet),
                    Err(_) => {
                        bump(&self.counters.drop_transport_malformed);
                        self.counters
                            .fragments_orphaned
                            .fetch_add(u64::from(whole.fragments), Ordering::Relaxed);
                        Verdict::Allow
                    }
                }
            }
            Added::GivenUp(up) => self.give_up(up, context),
        }
    }

    /// A datagram given up by reassembly, counted. One that never became whole (timed out, or
    /// still incomplete at a flush) was never delivered: the receiving host discards it and
    /// Wireshark does not dissect its transport header, so its fragments are orphans, not
    /// traffic of a flow. One dropped by a policy (overlap, malformed, over budget) was whole or
    /// could have been: its fragments count toward their flow when its first fragment held the
    /// transport header (its payload is not inspected).
    pub(super) fn give_up(&self, up: GivenUp, context: Option<ContextRef<'_>>) -> Verdict {
        let counter = match up.why {
            GiveUp::TimedOut => Some(&self.counters.defrag_timed_out),
            GiveUp::Overlap => Some(&self.counters.defrag_overlap_dropped),
            GiveUp::OverBudget => Some(&self.counters.defrag_over_budget),
            // Already counted when first given up (`AfterDrop`), or not a failure (`Flushed`).
            GiveUp::AfterDrop | GiveUp::Flushed => None,
        };
        if let Some(counter) = counter {
            bump(counter);
        }
        if up.fragments == 0 {
            return Verdict::Allow;
        }
        let never_whole = matches!(up.why, GiveUp::TimedOut | GiveUp::Flushed);
        let ip_len = u32::try_from(up.ip_bytes).unwrap_or(u32::MAX);
        match packet::datagram(&up.id, &up.head, ip_len, up.fragments) {
            Ok(view) if !never_whole => {
                let view = PacketView {
                    payload: &[],
                    ..view
                };
                self.on_packet(&view, up.last_ts, context, Input::Packet)
            }
            _ => {
                self.counters
                    .fragments_orphaned
                    .fetch_add(u64::from(up.fragments), Ordering::Relaxed);
                Verdict::Allow
            }
        }
    }

    pub(super) fn on_packet(
        &self,
        view: &PacketView<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
        input: Input,
    ) -> Verdict {
        let (key, side) = FlowKey::new(
            view.transport,
            view.src,
            view.src_port,
            view.dst,
            view.dst_port,
        );
        let syn_only = view.transport == Transport::Tcp
            && view.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
        let mut restarted = None;
        let hash = self.table.hash_of(&key);
        let known = self.table.with_entry_hashed(&key, hash, |e| {
            self.known(
                &key,
                e,
                side,
                view,
                ts,
                context,
                input,
                syn_only,
                &mut restarted,
            )
        });
        if let Some(verdict) = known {
            if let Some(id) = restarted {
                self.table.remember_hashed(hash, id);
            }
            return verdict;
        }

        self.table.reserve(ts, &mut |k, mut e| {
            bump(&self.counters.flows_evicted);
            let record = self.record(&k, &mut e, Event::Close, Some(Reason::Evicted));
            self.queue.push(record);
        });
        let mut entry = FlowEntry::new(self.table.next_id(), ts);
        entry.first_packet(side, view.src_port, view.dst_port);
        let verdict = match self
            .table
            .insert_reserved_hashed(key, hash, entry, |e, inserted| {
                if inserted {
                    self.name_from_dns(e, &key, ts);
                    self.update(&key, e, side, view, ts, context, input)
                } else {
                    // Another thread created the flow between our lookup and our insert: this packet
                    // is one of a known flow (counted, inspected, never renamed from DNS).
                    self.known(
                        &key,
                        e,
                        side,
                        view,
                        ts,
                        context,
                        input,
                        syn_only,
                        &mut restarted,
                    )
                }
            }) {
            Ok(verdict) => {
                bump(&self.counters.flows_created);
                self.counters
                    .flows_peak
                    .fetch_max(self.table.len() as u64, Ordering::Relaxed);
                verdict
            }
            Err(verdict) => {
                if let Some(id) = restarted {
                    self.table.remember_hashed(hash, id);
                }
                verdict
            }
        };
        if self.pending_len.load(Ordering::Relaxed) > 0 {
            self.apply_pending(&key);
        }
        verdict
    }

    /// A packet of a flow the table holds; runs under the flow's map guard. A SYN on an ended
    /// connection restarts the entry (its id in `restarted`, for the eviction order).
    #[inline]
    #[allow(clippy::too_many_arguments)] // the packet's parts, passed apart on the hot path
    fn known(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        side: Side,
        view: &PacketView<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
        input: Input,
        syn_only: bool,
        restarted: &mut Option<u64>,
    ) -> Verdict {
        // A SYN repeating the connection's own initial sequence number is a retransmission,
        // not a new connection (Wireshark keeps it in the stream).
        if syn_only && e.ended() && e.syn_next_seq != Some(view.seq.wrapping_add(1)) {
            // Port reuse: a SYN on a connection that has ended starts a new flow (as
            // Wireshark's stream numbering does); the old one is recorded now.
            let reason = e.end_reason();
            let record = self.record(key, e, Event::Close, Some(reason));
            self.queue.push(record);
            *e = FlowEntry::new(self.table.next_id(), ts);
            e.first_packet(side, view.src_port, view.dst_port);
            self.name_from_dns(e, key, ts);
            *restarted = Some(e.id);
            bump(&self.counters.flows_created);
        }
        self.update(key, e, side, view, ts, context, input)
    }

    /// Everything a packet does to its flow; runs under the flow's map guard.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the packet's parts, passed apart on the hot path
    fn update(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        side: Side,
        view: &PacketView<'_>,
        ts: u64,
        context: Option<ContextRef<'_>>,
        input: Input,
    ) -> Verdict {
        match input {
            Input::Packet => {
                e.count(side, view.ip_len, view.packets, ts);
                if view.transport == Transport::Tcp && view.tcp_flags & TCP_EVENTS != 0 {
                    self.tcp_event(key, e, side, view, ts);
                }
            }
            Input::StreamOpen => {
                // The sensor says who connected: as sure as a SYN. Stream offsets start at 1.
                e.evidence(side, Evidence::Syn);
                e.syn_next_seq = Some(1);
                e.last_seen = e.last_seen.max(ts);
            }
            Input::StreamData => e.count(side, view.ip_len, 1, ts),
        }
        if !view.payload.is_empty() {
            if is_dns_port(view) {
                self.dns_packet(e, side, view, ts);
            } else if !e.inspect_done {
                self.inspect(e, side, view, input);
            }
        }
        if let Some(ctx) = context {
            if ctx.lossy {
                bump(&self.counters.context_lossy);
            }
            // The same context as the flow holds costs a comparison: no copy, no interner.
            if !e.context.as_ref().is_some_and(|c| ctx.same_as(c)) {
                e.context = Some(self.take_context(ctx));
            }
        }
        if ts.saturating_sub(e.last_record) >= self.config.active_timeout_ns {
            let record = self.record(key, e, Event::Update, None);
            self.queue.push(record);
        }
        e.verdict
    }

    /// A SYN, FIN or RST. When its evidence turns the client around, an unnamed flow looks its
    /// server up in the DNS cache again (the packet that created it may have been the server's,
    /// seen first by another thread); a SYN seen after the inspector started gives it the
    /// client's first sequence number if it has read nothing yet.
    #[cold]
    fn tcp_event(
        &self,
        key: &FlowKey,
        e: &mut FlowEntry,
        side: Side,
        view: &PacketView<'_>,
        ts: u64,
    ) {
        let (client, evidence) = (e.client_side, e.evidence);
        e.tcp(side, view.tcp_flags, view.seq, view.ack, ts);
        if e.client_side != client && e.name.is_none() {
            self.name_from_dns(e, key, ts);
        }
        if e.evidence == Evidence::Syn && evidence != Evidence::Syn {
            if let Some(inspector) = &e.inspector {
                if inspector.memory() == 0 {
                    e.inspector = Some(Box::new(Inspector::new(
                        e.syn_next_seq,
                        self.inspect_memory.clone(),
                    )));
                }
            }
        }
    }

    /// Read a DNS message: client evidence, and answers into the name cache (port 53 only; mDNS on
    /// 5353 and LLMNR on 5355 give evidence but name nothing).
    fn dns_packet(&self, e: &mut FlowEntry, side: Side, view: &PacketView<'_>, ts: u64) {
        e.inspect_done = true;
        let msg = match view.transport {
            Transport::Udp => view.payload,
            // DNS over TCP: framed by dns::tcp_message.
            Transport::Tcp => match dns::tcp_message(view.payload) {
                Some(msg) => msg,
                None => return,
            },
        };
        let kind = if view.src_port == 5353 || view.dst_port == 5353 {
            dns::mdns_message_kind(msg)
        } else {
            dns::message_kind(msg)
        };
        match kind {
            Some(dns::DnsKind::Query) => e.evidence(side, Evidence::AppRequest),
            Some(dns::DnsKind::Response) => {
                e.evidence(side.other(), Evidence::AppReply);
                if view.src_port == 53 || view.dst_port == 53 {
                    let cache = &self.dns_cache;
                    let _ =
                        dns::parse_response(msg, |name, ip, ttl| cache.insert(ip, name, ttl, ts));
                }
            }
            None => {}
        }
    }

    /// Feed a payload of an unnamed flow to its inspector; name the flow when a name is found.
    fn inspect(&self, e: &mut FlowEntry, side: Side, view: &PacketView<'_>, input: Input) {
        let from_client = side == e.client_side;
        let weak = e.evidence < Evidence::AppRequest;
        // The server's bytes name nothing once the client is known: they neither start the
        // inspector nor spend its budget (another thread may hand them over before the client's).
        // They end the watch over a read hello: the server has answered the version it took.
        if !from_client && !weak {
            match e.inspector.as_mut() {
                // A proxy's answer to a CONNECT: look into the tunnel from now on.
                Some(i) if i.watching() && i.tunnel_open() => i.await_tunnel(),
                Some(i) if i.watching() => self.end_inspection(e),
                _ => {}
            }
            return;
        }
        if e.inspector.is_none() {
            if self.inspect_memory.load(Ordering::Relaxed) >= self.config.max_inspect_bytes {
                bump(&self.counters.inspect_skipped);
                e.inspect_done = true;
                return;
            }
            let isn = e.syn_next_seq.filter(|_| e.evidence == Evidence::Syn);
            e.inspector = Some(Box::new(Inspector::new(isn, self.inspect_memory.clone())));
        }
        let Some(inspector) = e.inspector.as_mut() else {
            return;
        };
        // Stream bytes come in order without sequence numbers: number them by offset.
        let seq = match input {
            Input::StreamData => inspector.stream_seq(),
            // A SYN's payload (TCP Fast Open) starts after the SYN's own sequence number.
            _ if view.tcp_flags & crate::packet::tcp_flags::SYN != 0 => view.seq.wrapping_add(1),
            _ => view.seq,
        };
        let in_tunnel = inspector.tunnel_open();
        let step = inspector.payload(view.transport, from_client, weak, seq, view.payload);
        // The cap holds for growth too: a flow whose buffer takes the total past it stops being
        // inspected (so the total exceeds the cap by at most one segment, for one moment).
        if step == Step::Continue
            && self.inspect_memory.load(Ordering::Relaxed) > self.config.max_inspect_bytes
        {
            bump(&self.counters.inspect_skipped);
            self.end_inspection(e);
            return;
        }
        match step {
            Step::Continue => {}
            Step::ClientSpoke => e.evidence(side, Evidence::AppRequest),
            Step::Done => self.end_inspection(e),
            Step::Named(source, name, hello) => {
                let other = inspector.alternative_name();
                // A TLS hello stays watched for a second version of its bytes while the
                // inspectors' memory is well under its cap (the watch never costs a new flow its
                // inspection); an HTTP CONNECT's tunnel is looked into all the same, without the
                // watch's buffer when there is no room for it.
                let watch = inspector.watching()
                    && self.inspect_memory.load(Ordering::Relaxed)
                        < self.config.max_inspect_bytes / WATCH_SHARE;
                if in_tunnel {
                    inspector.tunnel_named();
                } else if !watch {
                    // No room to watch a CONNECT request: its tunnel is still looked into.
                    inspector.await_tunnel();
                }
                let keep = watch || inspector.tunnel_open();
                e.evidence(side, Evidence::AppRequest);
                if !keep {
                    self.end_inspection(e);
                }
                if in_tunnel {
                    self.second_name(e, source, name, hello, true);
                } else {
                    self.name_in_band(e, source, name, hello);
                }
                if let Some((source, name, hello)) = other {
                    self.reread(e, source, name, hello);
                }
            }
            Step::Reread => {
                if let Some((source, name, hello)) = inspector.alternative_name() {
                    self.reread(e, source, name, hello);
                }
            }
        }
    }

    fn end_inspection(&self, e: &mut FlowEntry) {
        e.inspect_done = true;
        // Dropping the inspector gives its buffer bytes back to the gauge.
        e.inspector = None;
    }

    /// A second version of a named flow's hello or HTTP request (its bytes came twice with
    /// different values): a server may have taken either, so the version with the stricter
    /// verdict names the flow (`Stats::hellos_reread` counts them). The flow's verdict never gets
    /// milder.
    fn reread(
        &self,
        e: &mut FlowEntry,
        source: NameSource,
        name: Option<Name>,
        hello: Option<HelloInfo>,
    ) {
        bump(&self.counters.hellos_reread);
        self.second_name(e, source, name, hello, false);
    }

    /// Another name for a named flow: a second version of its hello or request
    /// ([`Engine::reread`]), or what the client sent through an HTTP CONNECT's tunnel (`tunnel`).
    /// The reading with the stricter verdict names the flow; on a tie, the tunnel's (the server
    /// behind the proxy reads it). The flow's verdict never gets milder.
    fn second_name(
        &self,
        e: &mut FlowEntry,
        source: NameSource,
        name: Option<Name>,
        hello: Option<HelloInfo>,
        tunnel: bool,
    ) {
        if let Some(n) = &name {
            self.count_name(n);
        }
        let name = name.map(|n| n.text.into_boxed_str());
        let mut other = naming::in_band(None, source, name, hello.map(|h| self.capped(h)));
        let verdict = naming::resolve(&mut other, &self.loaded_catalog(), &self.policy());
        let (new, old) = (strictness(verdict), strictness(e.verdict));
        if new > old || (tunnel && new == old) {
            e.verdict = verdict;
            e.name = Some(self.take_name(other));
        }
    }

    /// The hello with its ALPN list capped (`alpn_cut` counts a cut).
    fn capped(&self, mut hello: HelloInfo) -> HelloInfo {
        let (alpn, cut) = cap_alpn(std::mem::take(&mut hello.alpn));
        if cut {
            bump(&self.counters.alpn_cut);
        }
        hello.alpn = alpn;
        hello
    }

    /// Name a flow from its own bytes (SNI, Host), given the DNS name it may have had until then
    /// (the rules are `naming::in_band`'s).
    fn name_in_band(
        &self,
        e: &mut FlowEntry,
        source: NameSource,
        name: Option<Name>,
        hello: Option<HelloInfo>,
    ) {
        if let Some(n) = &name {
            self.count_name(n);
        }
        let hello = hello.map(|h| self.capped(h));
        let dns_name = e
            .name
            .as_ref()
            .filter(|n| n.source == Some(NameSource::Dns))
            .and_then(|n| n.server_name.clone());
        let name = name.map(|n| n.text.into_boxed_str());
        self.set_name(e, naming::in_band(dns_name, source, name, hello));
    }

    /// A new flow to an address a DNS answer named gets that name until its own bytes say better.
    fn name_from_dns(&self, e: &mut FlowEntry, key: &FlowKey, ts: u64) {
        if self.dns_cache.is_empty() {
            return;
        }
        let (server, _) = key.endpoint(e.client_side.other());
        if let Some(raw) = self.dns_cache.lookup(server, ts) {
            let name = lower_name(&raw);
            self.count_name(&name);
            self.set_name(e, naming::from_dns(name));
        }
    }

    /// Count a name that had bytes escaped or was cut (`Stats::names_escaped`, `names_cut`).
    fn count_name(&self, name: &Name) {
        if name.escaped {
            bump(&self.counters.names_escaped);
        }
        if name.cut {
            bump(&self.counters.names_cut);
        }
    }

    /// Give the flow its name, the name's app and registrable domain, and the verdict.
    fn set_name(&self, e: &mut FlowEntry, mut name: FlowName) {
        e.verdict = naming::resolve(&mut name, &self.loaded_catalog(), &self.policy());
        e.name = Some(self.take_name(name));
    }
}

/// How strict a verdict is: a second reading of a flow may only make it stricter.
fn strictness(v: Verdict) -> u8 {
    match v {
        Verdict::Allow => 0,
        Verdict::Monitor => 1,
        Verdict::Block => 2,
    }
}

/// Watched hellos hold at most 1/WATCH_SHARE of `max_inspect_bytes` between them.
const WATCH_SHARE: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(protocols: &[&str]) -> Box<[u8]> {
        let mut out = Vec::new();
        for p in protocols {
            out.push(p.len() as u8);
            out.extend_from_slice(p.as_bytes());
        }
        out.into()
    }

    #[test]
    fn alpn_is_cut_to_eight_protocols_and_128_bytes() {
        let short = wire(&["h2", "http/1.1"]);
        assert_eq!(cap_alpn(short.clone()), (short, false));
        let many: Vec<String> = (0..500).map(|i| format!("p{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (cut, was_cut) = cap_alpn(wire(&many));
        assert!(was_cut);
        assert_eq!(cut, wire(&many[..8]));
        let long = "x".repeat(60);
        let (cut, was_cut) = cap_alpn(wire(&[&long, &long, &long]));
        assert!(was_cut);
        assert_eq!(cut, wire(&[&long, &long]), "122 bytes fit, 183 do not");
        // A length byte past the end: the whole protocols before it are kept.
        let (cut, was_cut) = cap_alpn(vec![2, b'h', b'2', 9, b'x'].into());
        assert!(was_cut);
        assert_eq!(cut, wire(&["h2"]));
    }
}
