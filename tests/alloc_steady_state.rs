//! The hot path allocates nothing per message once warmed up (DESIGN.md §3).
//!
//! A counting global allocator wraps the system one; an in-process server relays
//! messages between two blocking raw-socket clients, and the number of heap
//! allocations during a measured burst must stay far below one per message.

#[path = "common/alloc_counter.rs"]
mod alloc_counter;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const PAYLOAD: usize = 128;

/// Bytes of one delivered `MSG bench.alloc 1 128\r\n<128>\r\n`.
fn msg_len() -> usize {
    format!("MSG bench.alloc 1 {PAYLOAD}\r\n").len() + PAYLOAD + 2
}

fn connect(port: u16, subscribe: bool) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut proto = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n".to_vec();
    if subscribe {
        proto.extend_from_slice(b"SUB bench.alloc 1\r\n");
    }
    proto.extend_from_slice(b"PING\r\n");
    s.write_all(&proto).unwrap();
    // Read INFO and PONG.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// One batch of `count` PUB frames, built once and reused.
fn pub_batch(count: usize) -> Vec<u8> {
    let mut frame = format!("PUB bench.alloc {PAYLOAD}\r\n").into_bytes();
    frame.extend_from_slice(&[b'x'; PAYLOAD]);
    frame.extend_from_slice(b"\r\n");
    frame.repeat(count)
}

/// Sends `batches` copies of `batch` while a reader thread drains the
/// subscriber; returns when all `expected` bytes arrived.
fn relay(
    publisher: &mut TcpStream,
    subscriber: &mut TcpStream,
    batch: &[u8],
    batches: usize,
    expected: usize,
) {
    let mut sub = subscriber.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0usize;
        while got < expected {
            let n = sub.read(&mut buf).expect("subscriber read");
            assert!(n > 0, "subscriber closed after {got} of {expected} bytes");
            got += n;
        }
        got
    });
    for _ in 0..batches {
        publisher.write_all(batch).unwrap();
    }
    let got = reader.join().unwrap();
    assert_eq!(got, expected);
}

#[test]
fn publish_and_delivery_do_not_allocate_per_message() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(common::start_default());
    let port = server.client_addr().port();
    let mut subscriber = connect(port, true);
    let mut publisher = connect(port, false);

    let per_batch = 500;
    let batch = pub_batch(per_batch);
    // Warm-up: buffers grow to their working size, caches fill.
    let warm_batches = 40;
    relay(
        &mut publisher,
        &mut subscriber,
        &batch,
        warm_batches,
        warm_batches * per_batch * msg_len(),
    );

    let batches = 200;
    let messages = batches * per_batch;
    let ((), allocs) = alloc_counter::count_allocations(|| {
        relay(
            &mut publisher,
            &mut subscriber,
            &batch,
            batches,
            messages * msg_len(),
        )
    });

    eprintln!("{allocs} heap allocations while relaying {messages} messages");
    // The test's own reader thread accounts for a handful (thread spawn, its
    // buffer); anything per message would be >= 100,000.
    assert!(
        allocs < messages / 100,
        "{allocs} allocations for {messages} messages"
    );
    drop(publisher);
    drop(subscriber);
    rt.block_on(server.shutdown());
}
