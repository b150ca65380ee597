//! `discover`'s worker pipeline (`cloudsight_cli::workers`) over many batches of tiny frames, with
//! records drained between batches as `discover` does: the run ends and every frame is counted
//! with 2, 3 and 4 workers. A stress run: a batch dropped by the dispatching thread after the
//! workers were done with it was lost to the reader's pool, and the reader then waited for it for
//! ever (a rare hang of `discover --threads 2` on a SYN flood); the ordering that lost it is
//! pinned deterministically by the unit test `workers::tests::the_batch_goes_back_whoever_lets_go_last`.

use std::sync::mpsc;
use std::time::Duration;

use cloudsight::{Config, Engine};
use cloudsight_testkit::packet::Tcp;
use cloudsight_testkit::sample::Pcap;
use cloudsight_testkit::{reader, workers};

const SYNS: u32 = 300_000;

fn syn_flood() -> &'static [u8] {
    let mut pcap = Pcap::new();
    let mut frame = Vec::with_capacity(128);
    for i in 0..SYNS {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        Tcp::new((client, 40000 + (i % 1000) as u16), ([34, 120, 1, 10], 443))
            .ethernet()
            .write(&mut frame, 2, &[]);
        pcap.frame(1_700_000_000_000_000_000 + u64::from(i) * 1000, &frame);
    }
    Box::leak(pcap.into_bytes().into_boxed_slice())
}

#[test]
fn every_batch_returns_to_the_pool_with_any_number_of_workers() {
    let capture = syn_flood();
    for threads in [2, 3, 4] {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            // A small table, so that every SYN evicts a flow and the dispatching thread drains
            // records between batches, as `discover` does.
            let engine = Engine::new(Config {
                max_flows: 10_000,
                ..Config::default()
            })
            .unwrap();
            let stream = reader::spawn(vec![reader::Source::Bytes("syn.pcap", capture)]);
            let out = workers::run(&engine, stream, threads, false, |_| {
                engine.drain(usize::MAX);
            })
            .unwrap();
            let _ = done_tx.send((out.frames, engine.stats().packets));
        });
        // A hang detector, not a speed limit: the run takes seconds; a lost batch never ends.
        let (frames, packets) = done_rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("{threads} workers: the run did not end (a batch lost)"));
        assert_eq!(frames, u64::from(SYNS), "{threads} workers");
        assert_eq!(packets, u64::from(SYNS), "{threads} workers");
    }
}
