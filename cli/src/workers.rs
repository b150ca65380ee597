//! Frames from the reader thread into one shared engine, from one or several worker threads.
//!
//! With N workers each frame goes to worker `symmetric hash(5-tuple) % N`, computed from its
//! IP/TCP/UDP headers, so every packet of a flow is handled by one worker in capture order; other
//! IP traffic goes by IP pair, non-IP frames to worker 0. Two kinds of frames are **ordering
//! points**, handled alone, after every earlier frame and before every later one (all workers
//! meet at a barrier before and after; a run of them costs one meeting):
//! - DNS (port 53, UDP or TCP): an answer fills the engine's address -> name cache, which names
//!   the flows created after it on any worker (as in `examples/c/discover.c`);
//! - IP fragments: later fragments find their flow through the first fragment's datagram id.
//!
//! `--tick` ticks are ordering points too. With that the records are those of one thread (flow
//! ids aside, which count flows in creation order); what can still differ is which flows are
//! evicted when the table is full, a race by nature.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

use cloudsight::Engine;

use crate::reader::{Batch, Stream};

/// UDP ports of the tunnels the engine decodes (VXLAN, VXLAN-GPE, Geneve, GRE in UDP, GTP-U,
/// AYIYA): their datagrams go by address pair.
const UDP_TUNNEL_PORTS: [u16; 6] = [4789, 4790, 6081, 4754, 2152, 5072];

/// Frame classes besides a worker index.
const SYNC: u8 = u8::MAX;

/// What a run did.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Frames handed to the engine.
    pub frames: u64,
    /// Latest capture time seen (the final flush's time).
    pub last_ts: u64,
    /// Link types the engine refused.
    pub unknown_link: BTreeSet<u32>,
    /// Captures read only up to a cut inside a packet record (what the reader says of each).
    pub cut_short: Vec<String>,
}

/// Feed every batch of `stream` to `engine` from `threads` workers (1: the calling thread);
/// `tick`: call `Engine::tick` once per second of capture time. `between` runs on the calling
/// thread after each batch is handed out (drain records there) with the bytes read so far.
/// Returns the reader's error if a capture could not be read to its end.
pub fn run(
    engine: &Engine,
    stream: Stream,
    threads: usize,
    tick: bool,
    mut between: impl FnMut(u64),
) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let mut last_tick = 0u64;
    let result = if threads <= 1 {
        let mut result = Ok(());
        for batch in stream.batches.iter() {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            for f in &batch.frames {
                if engine
                    .process_packet_linktype(f.linktype, batch.bytes(f), f.ts_ns, None)
                    .is_err()
                {
                    out.unknown_link.insert(f.linktype);
                }
                out.last_ts = out.last_ts.max(f.ts_ns);
                if tick && f.ts_ns >= last_tick + 1_000_000_000 {
                    engine.tick(f.ts_ns);
                    last_tick = f.ts_ns;
                }
            }
            out.frames += batch.frames.len() as u64;
            let position = batch.position;
            let _ = stream.recycle.try_send(batch);
            between(position);
        }
        result
    } else {
        parallel(engine, &stream, threads, tick, &mut out, &mut between)
    };
    out.cut_short = stream.join();
    result.map(|()| out)
}

/// A batch as the workers see it: the frames and, per frame, its worker or `SYNC`, and whether
/// a tick follows it.
struct Job {
    batch: Batch,
    owner: Vec<u8>,
    tick_after: Vec<bool>,
}

fn parallel(
    engine: &Engine,
    stream: &Stream,
    threads: usize,
    tick: bool,
    out: &mut Outcome,
    between: &mut impl FnMut(u64),
) -> Result<(), String> {
    let threads = threads.min(64);
    let barrier = SpinBarrier::new(threads);
    let mut last_tick = 0u64;
    std::thread::scope(|scope| {
        let mut senders: Vec<Sender<Arc<Job>>> = Vec::new();
        let mut handles = Vec::new();
        for w in 0..threads {
            let (tx, rx) = channel::<Arc<Job>>();
            senders.push(tx);
            let recycle = stream.recycle.clone();
            let barrier = &barrier;
            handles.push(scope.spawn(move || worker(engine, w as u8, rx, recycle, barrier)));
        }
        // No bound needed on the jobs in flight: there are at most `reader::POOL` batches, and
        // the last worker done with one gives it back to the reader.
        let mut result = Ok(());
        for batch in stream.batches.iter() {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let mut owner = Vec::with_capacity(batch.frames.len());
            let mut tick_after = Vec::with_capacity(batch.frames.len());
            for f in &batch.frames {
                owner.push(classify(f.linktype, batch.bytes(f), threads as u32));
                let t = tick && f.ts_ns >= last_tick + 1_000_000_000;
                if t {
                    last_tick = f.ts_ns;
                }
                tick_after.push(t);
                out.last_ts = out.last_ts.max(f.ts_ns);
            }
            out.frames += batch.frames.len() as u64;
            let position = batch.position;
            let job = Arc::new(Job {
                batch,
                owner,
                tick_after,
            });
            for tx in &senders {
                let _ = tx.send(job.clone());
            }
            // The workers may all be done with the job before this thread lets go of it (tiny
            // frames, this thread preempted): then the batch goes back from here. Dropped here
            // instead, it was lost to the reader's pool, which then waited for it for ever (a
            // rare hang on a SYN flood with 2 workers).
            give_back(job, &stream.recycle);
            between(position);
        }
        drop(senders);
        for h in handles {
            match h.join() {
                Ok(unknown) => out.unknown_link.extend(unknown),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        result
    })
}

/// Let go of a job: whoever lets go last (a worker or the dispatching thread) gives its batch
/// back to the reader's pool.
fn give_back(job: Arc<Job>, recycle: &SyncSender<Batch>) {
    if let Some(job) = Arc::into_inner(job) {
        let _ = recycle.try_send(job.batch);
    }
}

fn worker(
    engine: &Engine,
    me: u8,
    jobs: Receiver<Arc<Job>>,
    recycle: SyncSender<Batch>,
    barrier: &SpinBarrier,
) -> BTreeSet<u32> {
    let mut unknown = BTreeSet::new();
    let leader = me == 0;
    let mut process = |batch: &Batch, i: usize| {
        let f = &batch.frames[i];
        if engine
            .process_packet_linktype(f.linktype, batch.bytes(f), f.ts_ns, None)
            .is_err()
        {
            unknown.insert(f.linktype);
        }
    };
    for job in jobs.iter() {
        let n = job.owner.len();
        let mut i = 0;
        while i < n {
            if job.owner[i] == SYNC {
                let mut end = i;
                while end < n && job.owner[end] == SYNC {
                    end += 1;
                }
                barrier.wait();
                if leader {
                    for k in i..end {
                        process(&job.batch, k);
                        if job.tick_after[k] {
                            engine.tick(job.batch.frames[k].ts_ns);
                        }
                    }
                }
                barrier.wait();
                i = end;
                continue;
            }
            if job.owner[i] == me {
                process(&job.batch, i);
            }
            if job.tick_after[i] {
                barrier.wait();
                if leader {
                    engine.tick(job.batch.frames[i].ts_ns);
                }
                barrier.wait();
            }
            i += 1;
        }
        give_back(job, &recycle);
    }
    unknown
}

/// A reusable barrier for a fixed number of threads that spins briefly, then yields (the waits
/// are short: one thread handles a few ordering frames while the others wait).
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(threads: usize) -> SpinBarrier {
        SpinBarrier {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 200 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Offset of the IP header in a frame of `linktype`, if it carries IP.
fn ip_offset(linktype: u32, d: &[u8]) -> Option<usize> {
    let ethertype_ok = |t: u16| t == 0x0800 || t == 0x86dd;
    match linktype {
        1 => {
            let mut at = 12;
            let mut ethertype = u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]);
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                at += 4;
                ethertype = u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]);
            }
            ethertype_ok(ethertype).then_some(at + 2)
        }
        101 | 228 | 229 => Some(0),
        113 => ethertype_ok(u16::from_be_bytes([*d.get(14)?, *d.get(15)?])).then_some(16),
        276 => ethertype_ok(u16::from_be_bytes([*d.first()?, *d.get(1)?])).then_some(20),
        0 | 108 => (d.len() >= 4).then_some(4),
        _ => None,
    }
}

/// 64-bit mix of a value (the finalizer of SplitMix64).
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Fold an address into 64 bits.
fn fold(addr: &[u8]) -> u64 {
    addr.chunks(8).fold(0u64, |h, c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        mix(h ^ u64::from_le_bytes(w))
    })
}

/// The worker of a frame (`0..threads`) or `SYNC` for an ordering point.
pub fn classify(linktype: u32, d: &[u8], threads: u32) -> u8 {
    let Some(off) = ip_offset(linktype, d) else {
        return 0;
    };
    let Some(ip) = d.get(off..) else { return 0 };
    let Some(&first) = ip.first() else { return 0 };
    let (a, b, proto, l4) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ip.len() < 20 || ihl < 20 {
                return 0;
            }
            // More-fragments flag or a fragment offset: an ordering point.
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return SYNC;
            }
            (&ip[12..16], &ip[16..20], ip[9], ihl)
        }
        6 => {
            if ip.len() < 40 {
                return 0;
            }
            let mut proto = ip[6];
            let mut pos = 40;
            while matches!(proto, 0 | 43 | 44 | 60) {
                if ip.len() < pos + 8 {
                    break;
                }
                if proto == 44 {
                    return SYNC;
                }
                proto = ip[pos];
                pos += (usize::from(ip[pos + 1]) + 1) * 8;
            }
            (&ip[8..24], &ip[24..40], proto, pos)
        }
        _ => return 0,
    };
    let (ha, hb) = (fold(a), fold(b));
    let pair = ha.min(hb) ^ ha.max(hb).rotate_left(17);
    let mut h = pair;
    // TCP and UDP by 5-tuple; other IP by address pair. Tunnels (GRE and IP in IP are other IP;
    // VXLAN and GTP-U by their UDP ports) by address pair too: the engine counts the flows inside,
    // and VXLAN's source port differs per direction (each end hashes the inner flow its own way),
    // so both directions of an inner flow reach one worker only by the tunnel's addresses.
    if matches!(proto, 6 | 17) {
        if let Some(ports) = ip.get(l4..l4 + 4) {
            let sp = u16::from_be_bytes([ports[0], ports[1]]);
            let dp = u16::from_be_bytes([ports[2], ports[3]]);
            if sp == 53 || dp == 53 {
                return SYNC;
            }
            if proto == 17 && [sp, dp].iter().any(|p| UDP_TUNNEL_PORTS.contains(p)) {
                return (mix(pair) % u64::from(threads.max(1))) as u8;
            }
            let (lo, hi) = (sp.min(dp), sp.max(dp));
            h ^= (u64::from(lo) << 24) | (u64::from(hi) << 8) | u64::from(proto);
        }
    }
    (mix(h) % u64::from(threads.max(1))) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&sp.to_be_bytes());
        ip.extend_from_slice(&dp.to_be_bytes());
        ip.extend_from_slice(&[0; 16]);
        f.extend_from_slice(&ip);
        f
    }

    #[test]
    fn both_directions_of_a_flow_go_to_one_worker() {
        for n in [2u32, 3, 4, 8] {
            let mut seen = BTreeSet::new();
            for port in 1000..1200u16 {
                let a = classify(1, &v4([10, 0, 0, 1], port, [1, 2, 3, 4], 443, 6), n);
                let b = classify(1, &v4([1, 2, 3, 4], 443, [10, 0, 0, 1], port, 6), n);
                assert_eq!(a, b);
                assert!(u32::from(a) < n);
                seen.insert(a);
            }
            assert_eq!(seen.len() as u32, n, "flows spread over every worker");
        }
    }

    #[test]
    fn both_directions_of_a_vxlan_or_gtp_tunnel_go_to_one_worker() {
        for n in [2u32, 3, 4, 8] {
            let mut seen = BTreeSet::new();
            for host in 1..=40u8 {
                let (vtep_a, vtep_b) = ([10, 0, 1, host], [10, 0, 2, 1]);
                // Each VTEP picks its own source port; GTP-U uses 2152 (or any) as source.
                let up = classify(1, &v4(vtep_a, 50000 + u16::from(host), vtep_b, 4789, 17), n);
                let down = classify(1, &v4(vtep_b, 61000, vtep_a, 4789, 17), n);
                assert_eq!(up, down);
                let gtp_up = classify(1, &v4(vtep_a, 2152, vtep_b, 2152, 17), n);
                let gtp_down = classify(1, &v4(vtep_b, 40000, vtep_a, 2152, 17), n);
                assert_eq!(gtp_up, gtp_down);
                seen.insert(up);
            }
            assert_eq!(seen.len() as u32, n, "tunnels spread over every worker");
        }
    }

    #[test]
    fn dns_and_fragments_are_ordering_points() {
        assert_eq!(
            classify(1, &v4([10, 0, 0, 1], 5000, [8, 8, 8, 8], 53, 17), 2),
            SYNC
        );
        assert_eq!(
            classify(1, &v4([8, 8, 8, 8], 53, [10, 0, 0, 1], 5000, 6), 2),
            SYNC
        );
        let mut frag = v4([10, 0, 0, 1], 5000, [1, 2, 3, 4], 443, 17);
        frag[14 + 6] = 0x20; // more fragments
        assert_eq!(classify(1, &frag, 2), SYNC);
        assert_eq!(classify(1, &[0u8; 10], 2), 0);
    }

    fn job() -> Arc<Job> {
        Arc::new(Job {
            batch: Batch::default(),
            owner: Vec::new(),
            tick_after: Vec::new(),
        })
    }

    #[test]
    fn the_batch_goes_back_whoever_lets_go_last() {
        let (recycle, pool) = std::sync::mpsc::sync_channel::<Batch>(4);
        // Workers first, the dispatching thread last (the order that lost batches).
        let dispatcher = job();
        let (w0, w1) = (dispatcher.clone(), dispatcher.clone());
        give_back(w0, &recycle);
        give_back(w1, &recycle);
        assert!(
            pool.try_recv().is_err(),
            "not back while the dispatcher holds it"
        );
        give_back(dispatcher, &recycle);
        assert!(pool.try_recv().is_ok(), "back once the last holder lets go");
        // A worker last.
        let dispatcher = job();
        let w0 = dispatcher.clone();
        give_back(dispatcher, &recycle);
        assert!(pool.try_recv().is_err());
        give_back(w0, &recycle);
        assert!(pool.try_recv().is_ok());
    }
}
