//! The routed hot path allocates nothing per message once warmed up: a
//! publisher on node A, subscribers (plain and a queue group) on node B, so
//! every message goes through A's per-route collector (`RMSG`, `RMSG | q`,
//! `HMSG`) and B's route reader delivering to its clients.

#[path = "common/alloc_counter.rs"]
mod alloc_counter;
mod cluster_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cluster_support::{mesh, subs_in};

const PAYLOAD: usize = 128;
const HDR: &[u8] = b"NATS/1.0\r\nK: v\r\n\r\n";

fn connect(port: u16, subs: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut proto = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n".to_vec();
    proto.extend_from_slice(subs);
    proto.extend_from_slice(b"PING\r\n");
    s.write_all(&proto).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        seen.extend_from_slice(&buf[..n]);
    }
    s
}

/// `count` rounds of: a plain message, one for the queue group (with a
/// reply), and one with headers. Returns the frames and the bytes the
/// subscriber receives for them.
fn batch(count: usize) -> (Vec<u8>, usize) {
    let body = vec![b'x'; PAYLOAD];
    let mut one = Vec::new();
    one.extend_from_slice(format!("PUB bench.plain {PAYLOAD}\r\n").as_bytes());
    one.extend_from_slice(&body);
    one.extend_from_slice(b"\r\n");
    one.extend_from_slice(format!("PUB bench.q reply.1 {PAYLOAD}\r\n").as_bytes());
    one.extend_from_slice(&body);
    one.extend_from_slice(b"\r\n");
    let total = HDR.len() + PAYLOAD;
    one.extend_from_slice(format!("HPUB bench.plain {} {total}\r\n", HDR.len()).as_bytes());
    one.extend_from_slice(HDR);
    one.extend_from_slice(&body);
    one.extend_from_slice(b"\r\n");
    let received = format!("MSG bench.plain 1 {PAYLOAD}\r\n").len()
        + format!("MSG bench.q 2 reply.1 {PAYLOAD}\r\n").len()
        + format!("HMSG bench.plain 1 {} {total}\r\n", HDR.len()).len()
        + 3 * (PAYLOAD + 2)
        + HDR.len();
    (one.repeat(count), received * count)
}

fn relay(
    publisher: &mut TcpStream,
    subscriber: &TcpStream,
    frames: &[u8],
    times: usize,
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
    for _ in 0..times {
        publisher.write_all(frames).unwrap();
    }
    assert_eq!(reader.join().unwrap(), expected);
}

#[test]
fn routed_publish_and_delivery_do_not_allocate_per_message() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let nodes = rt.block_on(mesh(2));
    let subscriber = connect(
        nodes[1].client_addr().port(),
        b"SUB bench.plain 1\r\nSUB bench.q grp 2\r\n",
    );
    // Both subscriptions reached node A as route interest.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while subs_in(&nodes[0], "$G") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "interest did not arrive"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut publisher = connect(nodes[0].client_addr().port(), b"");

    let rounds = 200;
    let (frames, bytes) = batch(rounds);
    relay(&mut publisher, &subscriber, &frames, 40, 40 * bytes);

    let times = 150;
    let messages = times * rounds * 3;
    let ((), allocs) = alloc_counter::count_allocations(|| {
        relay(&mut publisher, &subscriber, &frames, times, times * bytes)
    });
    eprintln!("{allocs} heap allocations while routing {messages} messages");
    assert!(
        allocs < messages / 100,
        "{allocs} allocations for {messages} routed messages"
    );
    drop(publisher);
    drop(subscriber);
    for n in nodes {
        rt.block_on(n.shutdown());
    }
}
