//! The fan-out write path: one published message appended as `MSG` to the
//! outbound queues of N subscribers (short lock + memcpy each), as the publisher's
//! task does per message. Throughput is in delivered messages.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use tracebus::protocol::client::write_msg;
use tracebus::server::outbound::Outbound;

/// Messages per measured batch: small enough that the queues never reallocate
/// (200 × ~160 B stays inside the initial 32 KiB buffer).
const PER_BATCH: usize = 200;

fn fanout(c: &mut Criterion) {
    let payload = vec![b'x'; 128];
    let mut group = c.benchmark_group("fanout");
    for subs in [1usize, 10, 100] {
        group.throughput(Throughput::Elements((subs * PER_BATCH) as u64));
        group.bench_function(format!("{subs}_subscribers_128B"), |b| {
            b.iter_batched_ref(
                || {
                    (0..subs)
                        .map(|_| Outbound::new(64 * 1024 * 1024))
                        .collect::<Vec<_>>()
                },
                |queues| {
                    for _ in 0..PER_BATCH {
                        for q in queues.iter() {
                            q.queue_with(200, |out: &mut BytesMut| {
                                write_msg(out, b"trace.checkout.log", b"17", None, &payload)
                            });
                        }
                    }
                    black_box(queues);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));
    targets = fanout
}
criterion_main!(benches);
