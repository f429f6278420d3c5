//! Client-protocol hot path: parse throughput (MB/s of input) for a stream of
//! `PUB foo.bar 128` ops and for a mixed stream, and MSG writing throughput
//! (MB/s of output). Kept short (a few seconds per case) so the whole bench
//! runs in well under a minute.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracebus::protocol::client::{parse, write_msg, Limits, Parsed};

const OPS: usize = 4096;

fn pub_stream() -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..OPS {
        v.extend_from_slice(b"PUB foo.bar 128\r\n");
        v.extend_from_slice(&[b'x'; 128]);
        v.extend_from_slice(b"\r\n");
    }
    v
}

fn mixed_stream() -> Vec<u8> {
    let hdr = b"NATS/1.0\r\nTrace-Id: 0123456789abcdef\r\n\r\n";
    let mut v = Vec::new();
    for i in 0..OPS {
        match i % 8 {
            0 => v.extend_from_slice(b"SUB trace.app.host.*.log q1 17\r\n"),
            1 => v.extend_from_slice(b"PING\r\n"),
            2 | 3 => {
                v.extend_from_slice(
                    format!(
                        "HPUB trace.app.host.1.log _INBOX.abc {} {}\r\n",
                        hdr.len(),
                        hdr.len() + 64
                    )
                    .as_bytes(),
                );
                v.extend_from_slice(hdr);
                v.extend_from_slice(&[b'y'; 64]);
                v.extend_from_slice(b"\r\n");
            }
            4 => v.extend_from_slice(b"UNSUB 17 10\r\n"),
            _ => {
                v.extend_from_slice(b"pub foo.bar  reply.to 128\r\n");
                v.extend_from_slice(&[b'x'; 128]);
                v.extend_from_slice(b"\r\n");
            }
        }
    }
    v
}

/// Parses every op in `buf`, returning a checksum so nothing is optimized out.
fn parse_all(buf: &[u8], limits: &Limits) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Parsed::Op { consumed, .. }) = parse(&buf[pos..], limits) {
        pos += consumed;
        n += 1;
    }
    assert_eq!(pos, buf.len());
    n
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();

    let mut g = c.benchmark_group("parse");
    for (name, stream) in [("pub_128", pub_stream()), ("mixed", mixed_stream())] {
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse_all(black_box(&stream), &limits)));
    }
    g.finish();

    let mut g = c.benchmark_group("write");
    let payload = [b'x'; 128];
    let mut out = BytesMut::with_capacity(OPS * 200);
    write_msg(
        &mut out,
        b"foo.bar",
        b"17",
        Some(b"_INBOX.abcdef"),
        &payload,
    );
    g.throughput(Throughput::Bytes((out.len() * OPS) as u64));
    g.bench_function("msg_128", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..OPS {
                write_msg(
                    &mut out,
                    black_box(b"foo.bar"),
                    black_box(b"17"),
                    Some(b"_INBOX.abcdef"),
                    black_box(&payload),
                );
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
