//! The route protocol on the wire: a fake peer on a raw socket checks the exact
//! bytes tracebus sends (INFO, CONNECT, RS+/RS- with queue weights, RMSG/HMSG
//! forms, gossip and lame duck INFOs) and that it handles what a nats-server
//! peer sends (RS+/RS-, RMSG with queue lists, HMSG, PING, errors).

mod cluster_support;

use std::time::Duration;

use cluster_support::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tracebus::config::Options;
use tracebus::server::ServerHandle;

const SHORT: Duration = Duration::from_millis(300);

/// One side of a raw connection (a fake route peer or a raw client).
struct Wire {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    /// Answer PINGs and hide them from the test.
    auto_pong: bool,
}

impl Wire {
    fn new(s: TcpStream) -> Wire {
        let (r, w) = s.into_split();
        Wire {
            r: BufReader::new(r),
            w,
            auto_pong: true,
        }
    }

    async fn connect(port: u16) -> Wire {
        Wire::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap())
    }

    async fn send(&mut self, b: &[u8]) {
        self.w.write_all(b).await.unwrap();
    }

    /// The next line (CRLF included); `None` on EOF. PINGs are answered.
    async fn try_line(&mut self, wait: Duration) -> Option<String> {
        loop {
            let mut l = String::new();
            match tokio::time::timeout(wait, self.r.read_line(&mut l)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(_)) => {}
            }
            if self.auto_pong && l == "PING\r\n" {
                self.send(b"PONG\r\n").await;
                continue;
            }
            return Some(l);
        }
    }

    async fn line(&mut self) -> String {
        self.try_line(WAIT).await.expect("a line in time")
    }

    /// `n` more bytes (a payload and its CRLF).
    async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        tokio::time::timeout(WAIT, self.r.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        b
    }

    /// A message line and its body, as one string.
    async fn msg(&mut self) -> String {
        let l = self.line().await;
        let n: usize = l.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
        let body = self.bytes(n + 2).await;
        l + &String::from_utf8(body).unwrap()
    }

    /// Nothing arrives for a little while.
    async fn quiet(&mut self) {
        if let Some(l) = self.try_line(SHORT).await {
            panic!("unexpected {l:?}");
        }
    }

    /// Sends PING and waits for the PONG: everything sent before was processed.
    async fn sync(&mut self) {
        self.send(b"PING\r\n").await;
        let saved = self.auto_pong;
        self.auto_pong = true;
        assert_eq!(self.line().await, "PONG\r\n");
        self.auto_pong = saved;
    }

    /// Waits for EOF (after optional remaining lines, returned).
    async fn closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(l) = self.try_line(WAIT).await {
            rest.push(l);
        }
        rest
    }
}

fn json_of(line: &str, op: &str) -> Value {
    let body = line
        .strip_prefix(op)
        .unwrap_or_else(|| panic!("{op} in {line:?}"));
    serde_json::from_str(body.trim_end()).unwrap()
}

/// A raw client of a tracebus node (CONNECT done, headers on).
async fn raw_client(node: &ServerHandle) -> Wire {
    let mut c = Wire::connect(node.client_addr().port()).await;
    c.line().await; // INFO
    c.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"protocol\":1}\r\n")
        .await;
    c.sync().await;
    c
}

fn fake_id() -> String {
    nkeys::KeyPair::new_server().public_key()
}

/// A fake peer's INFO as nats-server 2.9.10 writes it.
fn peer_info(id: &str, name: &str, port: u16, extra: &str) -> String {
    format!(
        "INFO {{\"server_id\":\"{id}\",\"server_name\":\"{name}\",\"version\":\"2.9.10\",\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\"max_payload\":1048576,\"cluster\":\"C1\",\"connect_urls\":[\"127.0.0.1:{}\"]{extra}}} \r\n",
        port + 1
    )
}

struct Peer {
    wire: Wire,
    id: String,
    /// tracebus' INFO on this connection.
    info: Value,
}

/// Dials `node`'s route port as a peer: reads its INFO, sends CONNECT and
/// INFO, and waits until the node registered the route.
async fn peer(node: &ServerHandle, name: &str, extra_connect: &str) -> Peer {
    let port = node.cluster_addr().unwrap().port();
    let mut wire = Wire::connect(port).await;
    let line = wire.line().await;
    assert!(line.ends_with("} \r\n"), "INFO ends with a space: {line:?}");
    let info = json_of(&line, "INFO ");
    let id = fake_id();
    let before = node.num_routes();
    wire.send(
        format!(
            "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,{extra_connect}\"tls_required\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"C1\"}}\r\n"
        )
        .as_bytes(),
    )
    .await;
    wire.send(peer_info(&id, name, 40000 + before as u16 * 2, "").as_bytes())
        .await;
    wait_until("peer registered", || node.num_routes() == before + 1).await;
    Peer { wire, id, info }
}

async fn node() -> ServerHandle {
    start(node_options("T", &[])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_interest_lines_are_exact() {
    let t = node().await;
    // Interest that exists before the peer: sent right after registration.
    let mut c = raw_client(&t).await;
    c.send(b"SUB pre 1\r\nSUB pq g 2\r\nSUB pq g 3\r\n").await;
    c.sync().await;

    let mut p = peer(&t, "P", "").await;
    let info = &p.info;
    assert_eq!(info["server_id"], t.server_id());
    assert_eq!(info["server_name"], "T");
    assert_eq!(info["version"], "2.9.10");
    assert_eq!(info["proto"], 2);
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["port"], t.cluster_addr().unwrap().port());
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert_eq!(info["cluster"], "C1");
    assert_eq!(info["nonce"].as_str().unwrap().len(), 15);
    assert!(info.get("auth_required").is_none());
    assert_eq!(
        info["connect_urls"],
        serde_json::json!([format!("127.0.0.1:{}", t.client_addr().port())])
    );
    let mut snapshot = vec![p.wire.line().await, p.wire.line().await];
    snapshot.sort();
    assert_eq!(snapshot, ["RS+ $G pq g 2\r\n", "RS+ $G pre\r\n"]);

    // First subscription: RS+; more of the same: nothing.
    c.send(b"SUB foo 10\r\nSUB foo 11\r\nSUB mark1 12\r\n")
        .await;
    assert_eq!(p.wire.line().await, "RS+ $G foo\r\n");
    assert_eq!(p.wire.line().await, "RS+ $G mark1\r\n");
    // Queue members: RS+ with every new weight, RS- when the last goes.
    c.send(b"SUB bar grp 20\r\n").await;
    assert_eq!(p.wire.line().await, "RS+ $G bar grp 1\r\n");
    c.send(b"SUB bar grp 21\r\n").await;
    assert_eq!(p.wire.line().await, "RS+ $G bar grp 2\r\n");
    c.send(b"UNSUB 20\r\n").await;
    assert_eq!(p.wire.line().await, "RS+ $G bar grp 1\r\n");
    c.send(b"UNSUB 21\r\n").await;
    assert_eq!(p.wire.line().await, "RS- $G bar grp\r\n");
    // The last plain subscription: RS-.
    c.send(b"UNSUB 10\r\nSUB mark2 13\r\n").await;
    assert_eq!(p.wire.line().await, "RS+ $G mark2\r\n");
    c.send(b"UNSUB 11\r\n").await;
    assert_eq!(p.wire.line().await, "RS- $G foo\r\n");
    // Auto-unsubscribe after one message withdraws the interest too.
    c.send(b"SUB once 30\r\nUNSUB 30 1\r\n").await;
    assert_eq!(p.wire.line().await, "RS+ $G once\r\n");
    c.send(b"PUB once 1\r\nx\r\n").await;
    assert_eq!(p.wire.line().await, "RS- $G once\r\n");
    // A disconnecting client withdraws everything it had.
    drop(c);
    let mut gone = Vec::new();
    while gone.len() < 4 {
        let l = p.wire.line().await;
        // The group shrinks one member at a time: 2 → 1 → gone.
        if l == "RS+ $G pq g 1\r\n" {
            continue;
        }
        gone.push(l);
    }
    gone.sort();
    assert_eq!(
        gone,
        [
            "RS- $G mark1\r\n",
            "RS- $G mark2\r\n",
            "RS- $G pq g\r\n",
            "RS- $G pre\r\n"
        ]
    );
    p.wire.quiet().await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmsg_forms_are_exact() {
    let t = node().await;
    let mut p = peer(&t, "P", "").await;
    let mut c = raw_client(&t).await;

    p.wire.send(b"RS+ $G baz\r\n").await;
    p.wire.sync().await;
    c.send(b"PUB baz 5\r\nhello\r\nPUB baz r.1 5\r\nhello\r\n")
        .await;
    assert_eq!(p.wire.msg().await, "RMSG $G baz 5\r\nhello\r\n");
    assert_eq!(p.wire.msg().await, "RMSG $G baz r.1 5\r\nhello\r\n");
    // Headers: HMSG with header and total sizes.
    c.send(b"HPUB baz 12 17\r\nNATS/1.0\r\n\r\nhello\r\n").await;
    assert_eq!(
        p.wire.msg().await,
        "HMSG $G baz 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
    );
    c.send(b"HPUB baz r.2 12 12\r\nNATS/1.0\r\n\r\n\r\n").await;
    assert_eq!(
        p.wire.msg().await,
        "HMSG $G baz r.2 12 12\r\nNATS/1.0\r\n\r\n\r\n"
    );

    // Queue groups with no local member: the route gets them, listed.
    p.wire
        .send(b"RS+ $G work g1 3\r\nRS+ $G work g2 1\r\n")
        .await;
    p.wire.sync().await;
    c.send(b"PUB work 1\r\nx\r\nPUB work r 1\r\ny\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G work | g1 g2 1\r\nx\r\n");
    assert_eq!(p.wire.msg().await, "RMSG $G work + r g1 g2 1\r\ny\r\n");
    // Plain interest as well: still one RMSG.
    p.wire.send(b"RS+ $G work\r\n").await;
    p.wire.sync().await;
    c.send(b"PUB work 1\r\nz\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G work | g1 g2 1\r\nz\r\n");
    // A local member of g1 is preferred: only g2 crosses.
    let mut local = raw_client(&t).await;
    local.send(b"SUB work g1 1\r\n").await;
    local.sync().await;
    assert_eq!(p.wire.line().await, "RS+ $G work g1 1\r\n");
    c.send(b"PUB work 1\r\nw\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G work | g2 1\r\nw\r\n");
    assert_eq!(local.msg().await, "MSG work 1 1\r\nw\r\n");

    // Two filters of the peer match: one copy.
    p.wire.send(b"RS+ $G w.*\r\nRS+ $G w.>\r\n").await;
    p.wire.sync().await;
    c.send(b"PUB w.x 1\r\n1\r\nPUB baz 1\r\n2\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G w.x 1\r\n1\r\n");
    assert_eq!(p.wire.msg().await, "RMSG $G baz 1\r\n2\r\n");

    // Weight 0 is never picked (nats-server accepts it the same way).
    p.wire.send(b"RS+ $G zero z 0\r\n").await;
    p.wire.sync().await;
    c.send(b"PUB zero 1\r\n0\r\nPUB baz 1\r\n3\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G baz 1\r\n3\r\n");

    // RS- removes; RS+ twice then one RS- removes too (keyed, not counted).
    p.wire
        .send(b"RS- $G baz\r\nRS+ $G w.*\r\nRS- $G w.*\r\nRS- $G w.>\r\n")
        .await;
    p.wire.sync().await;
    c.send(b"PUB baz 1\r\n4\r\nPUB w.x 1\r\n5\r\nPUB work 1\r\n6\r\n")
        .await;
    assert_eq!(p.wire.msg().await, "RMSG $G work | g2 1\r\n6\r\n");
    p.wire.quiet().await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_a_peer_reach_local_clients_only() {
    let t = node().await;
    let mut p1 = peer(&t, "P1", "").await;
    let mut p2 = peer(&t, "P2", "").await;
    // p1 learned about p2 by gossip.
    let gossip = p1.wire.line().await;
    assert!(gossip.starts_with("INFO {") && gossip.ends_with("}\r\n"));
    let mut c = raw_client(&t).await;
    c.send(b"SUB foo 1\r\nSUB q grp 2\r\nSUB q 3\r\n").await;
    c.sync().await;
    for p in [&mut p1, &mut p2] {
        let mut lines = vec![
            p.wire.line().await,
            p.wire.line().await,
            p.wire.line().await,
        ];
        lines.sort();
        assert_eq!(
            lines,
            ["RS+ $G foo\r\n", "RS+ $G q\r\n", "RS+ $G q grp 1\r\n"]
        );
    }
    // p2 is interested in foo too: a message from p1 must not go to p2.
    p2.wire.send(b"RS+ $G foo\r\n").await;
    p2.wire.sync().await;

    p1.wire
        .send(b"RMSG $G foo 2\r\nhi\r\nRMSG $G foo reply.1 2\r\nyo\r\n")
        .await;
    assert_eq!(c.msg().await, "MSG foo 1 2\r\nhi\r\n");
    assert_eq!(c.msg().await, "MSG foo 1 reply.1 2\r\nyo\r\n");
    p1.wire
        .send(b"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG $G foo 0 2\r\nok\r\n")
        .await;
    assert_eq!(c.msg().await, "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(c.msg().await, "MSG foo 1 2\r\nok\r\n");
    // Queue lists: the listed group gets one copy, plain subscribers always.
    p1.wire.send(b"RMSG $G q | grp 1\r\na\r\n").await;
    let mut got = vec![c.msg().await, c.msg().await];
    got.sort();
    assert_eq!(got, ["MSG q 2 1\r\na\r\n", "MSG q 3 1\r\na\r\n"]);
    p1.wire
        .send(b"RMSG $G q 1\r\nb\r\nRMSG $G q | other 1\r\nc\r\nRMSG $G q + r grp 1\r\nd\r\n")
        .await;
    assert_eq!(c.msg().await, "MSG q 3 1\r\nb\r\n");
    assert_eq!(c.msg().await, "MSG q 3 1\r\nc\r\n");
    let mut got = vec![c.msg().await, c.msg().await];
    got.sort();
    assert_eq!(got, ["MSG q 2 r 1\r\nd\r\n", "MSG q 3 r 1\r\nd\r\n"]);
    // An unknown account is dropped; the route stays up.
    p1.wire.send(b"RMSG NOPE foo 1\r\nx\r\n").await;
    p1.wire.sync().await;
    // Nothing of the above went out to p2: a local publish is the next thing.
    c.send(b"PUB foo 4\r\nlast\r\n").await;
    assert_eq!(p2.wire.msg().await, "RMSG $G foo 4\r\nlast\r\n");
    p2.wire.quiet().await;
    // Invalid subjects: a non-closing -ERR.
    p1.wire.send(b"RS+ $G foo..bar\r\n").await;
    assert_eq!(p1.wire.line().await, "-ERR 'Invalid Subscription'\r\n");
    p1.wire.sync().await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_peer_gets_ok() {
    let t = node().await;
    let mut p = peer(&t, "P", "").await;
    drop(p);
    wait_until("first peer gone", || t.num_routes() == 0).await;
    p = peer_verbose(&t).await;
    p.wire
        .send(b"RS+ $G a\r\nRS- $G a\r\nRMSG $G a 1\r\nx\r\n")
        .await;
    for _ in 0..3 {
        assert_eq!(p.wire.line().await, "+OK\r\n");
    }
    t.shutdown().await;
}

async fn peer_verbose(t: &ServerHandle) -> Peer {
    let port = t.cluster_addr().unwrap().port();
    let mut wire = Wire::connect(port).await;
    let info = json_of(&wire.line().await, "INFO ");
    let id = fake_id();
    wire.send(
        format!("CONNECT {{\"verbose\":true,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"C1\"}}\r\n")
            .as_bytes(),
    )
    .await;
    wire.send(peer_info(&id, "PV", 41000, "").as_bytes()).await;
    wait_until("registered", || t.num_routes() == 1).await;
    Peer { wire, id, info }
}

fn auth_options() -> Options {
    let mut o = node_options("T", &[]);
    let c = o.cluster.as_mut().unwrap();
    c.user = Some("ruser".into());
    c.password = Some("rp@ss".into());
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_and_cluster_name_are_checked() {
    let t = start(auth_options()).await;
    let port = t.cluster_addr().unwrap().port();

    let mut w = Wire::connect(port).await;
    let info = json_of(&w.line().await, "INFO ");
    assert_eq!(info["auth_required"], true);
    w.send(b"CONNECT {\"name\":\"X\",\"cluster\":\"C1\"}\r\n")
        .await;
    assert_eq!(w.line().await, "-ERR 'Authorization Violation'\r\n");
    assert!(w.closed().await.is_empty());

    let mut w = Wire::connect(port).await;
    w.line().await;
    w.send(b"PING\r\n").await;
    assert_eq!(w.line().await, "-ERR 'Authorization Violation'\r\n");

    let mut w = Wire::connect(port).await;
    w.line().await;
    w.send(
        b"CONNECT {\"user\":\"ruser\",\"pass\":\"rp@ss\",\"name\":\"X\",\"cluster\":\"OTHER\"}\r\n",
    )
    .await;
    assert_eq!(
        w.line().await,
        "-ERR 'Rejecting connection, cluster name \"OTHER\" does not match \"C1\"'\r\n"
    );
    assert!(w.closed().await.is_empty());

    // A client that dials the route port by mistake.
    let mut w = Wire::connect(port).await;
    w.line().await;
    w.send(b"CONNECT {\"user\":\"ruser\",\"pass\":\"rp@ss\",\"lang\":\"rust\"}\r\n")
        .await;
    assert_eq!(
        w.line().await,
        "-ERR 'attempted to connect to route port'\r\n"
    );

    // The right credentials and name.
    let p = peer(&t, "P", "\"user\":\"ruser\",\"pass\":\"rp@ss\",").await;
    drop(p);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_side_sends_connect_then_info() {
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fport = fake.local_addr().unwrap().port();
    let mut o = node_options(
        "T",
        &[format!("nats-route://ruser:rp%40ss@127.0.0.1:{fport}")],
    );
    o.cluster.as_mut().unwrap().port = Some(-1);
    let t = start(o).await;
    let mut c = raw_client(&t).await;
    c.send(b"SUB early 1\r\n").await;
    c.sync().await;

    let (s, _) = tokio::time::timeout(WAIT, fake.accept())
        .await
        .unwrap()
        .unwrap();
    let mut w = Wire::new(s);
    // nats-server sends its INFO on accept; tracebus does not wait for it.
    let connect = w.line().await;
    assert_eq!(
        connect,
        format!(
            "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ruser\",\"pass\":\"rp@ss\",\"tls_required\":false,\"headers\":true,\"name\":\"{}\",\"cluster\":\"C1\"}}\r\n",
            t.server_id()
        )
    );
    let info = w.line().await;
    assert!(info.ends_with("} \r\n"));
    assert_eq!(json_of(&info, "INFO ")["server_id"], t.server_id());
    // Registered when our INFO arrives; then the interest.
    let id = fake_id();
    w.send(peer_info(&id, "F", fport, "").as_bytes()).await;
    assert_eq!(w.line().await, "RS+ $G early\r\n");
    wait_until("registered", || t.num_routes() == 1).await;
    // The peer answers PINGs; tracebus answers ours.
    w.sync().await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_passed_on_and_acted_upon() {
    let t = node().await;
    let mut p1 = peer(&t, "P1", "").await;
    let p2 = peer(&t, "P2", "").await;
    // p1 hears of p2: its INFO with ip, without nonce, no space before CRLF.
    let g = p1.wire.line().await;
    assert!(g.ends_with("}\r\n") && !g.ends_with("} \r\n"), "{g:?}");
    let gi = json_of(&g, "INFO ");
    assert_eq!(gi["server_id"], p2.id);
    assert!(gi.get("nonce").is_none());
    let port2 = gi["port"].as_u64().unwrap();
    assert_eq!(gi["ip"], format!("nats-route://127.0.0.1:{port2}/"));

    // tracebus dials a server it hears of.
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fport = fake.local_addr().unwrap().port();
    let id3 = fake_id();
    let gossip = peer_info(
        &id3,
        "P3",
        fport,
        &format!(",\"ip\":\"nats-route://127.0.0.1:{fport}/\""),
    )
    .replace("} \r\n", "}\r\n");
    p1.wire.send(gossip.as_bytes()).await;
    let (s, _) = tokio::time::timeout(WAIT, fake.accept())
        .await
        .unwrap()
        .unwrap();
    let mut w = Wire::new(s);
    assert!(w.line().await.starts_with("CONNECT {"));
    // Gossip about itself or a connected server is ignored.
    let again = peer_info(&p2.id, "P2", 1, ",\"ip\":\"nats-route://127.0.0.1:1/\"");
    p1.wire.send(again.as_bytes()).await;
    p1.wire.sync().await;
    drop(p2);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_info_goes_to_routes() {
    let t = node().await;
    let mut p = peer(&t, "P", "").await;
    t.lame_duck().await;
    let l = p.wire.line().await;
    assert!(l.ends_with("} \r\n"));
    let info = json_of(&l, "INFO ");
    assert_eq!(info["ldm"], true);
    assert_eq!(info["server_id"], t.server_id());
    assert!(info.get("nonce").is_none());
    // The route stays up until shutdown.
    p.wire.sync().await;
    t.shutdown().await;
    assert!(p.wire.closed().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_lame_duck_info_drops_its_client_urls() {
    let t = node().await;
    let mut p = peer(&t, "P", "").await;
    let mut c = raw_client(&t).await;
    let peer_url = format!("127.0.0.1:{}", 40000 + 1);
    wait_until("peer URL advertised", || {
        t.client_connect_urls().contains(&peer_url)
    })
    .await;
    let ldm = peer_info(&p.id, "P", 40000, ",\"ldm\":true");
    p.wire.send(ldm.as_bytes()).await;
    // Clients get an async INFO without the peer's URL.
    let update = json_of(&c.line().await, "INFO ");
    assert_eq!(
        update["connect_urls"],
        serde_json::json!([format!("127.0.0.1:{}", t.client_addr().port())])
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_close_the_route() {
    let t = node().await;
    let mut p = peer(&t, "P", "").await;
    p.wire.send(b"MSG foo 1 1\r\nx\r\n").await;
    assert_eq!(p.wire.line().await, "-ERR 'Unknown Protocol Operation'\r\n");
    assert!(p.wire.closed().await.is_empty());
    wait_until("route gone", || t.num_routes() == 0).await;
    let mut p = peer(&t, "P", "").await;
    // Bad arguments: closed without a word.
    p.wire.send(b"RMSG $G foo x y 1\r\nx\r\n").await;
    assert!(p.wire.closed().await.is_empty());
    t.shutdown().await;
}

/// The next line (PINGs answered), `None` at EOF or after `wait`.
async fn next_or_eof(w: &mut Wire, wait: Duration) -> Option<String> {
    w.try_line(wait).await
}

/// Whether `w` reaches EOF within `wait` (PINGs answered, other lines skipped).
async fn eof_within(w: &mut Wire, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut l = String::new();
        match tokio::time::timeout(left, w.r.read_line(&mut l)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {
                if l == "PING\r\n" {
                    w.send(b"PONG\r\n").await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_from_the_same_peer_takes_over_without_loss() {
    let t = node().await;
    let port = t.cluster_addr().unwrap().port();
    let mut c = raw_client(&t).await;

    // The peer's first connection, registered, with interest.
    let mut p = peer(&t, "P", "").await;
    p.wire.send(b"RS+ $G foo\r\n").await;
    p.wire.sync().await;
    c.send(b"PUB foo 1\r\n1\r\n").await;
    assert_eq!(p.wire.msg().await, "RMSG $G foo 1\r\n1\r\n");

    // A second connection claiming the same server id (as when both ends
    // dialed each other): tracebus keeps exactly one of them.
    let mut second = Wire::connect(port).await;
    second.line().await; // INFO
    second
        .send(
            format!(
                "CONNECT {{\"verbose\":false,\"headers\":true,\"name\":\"{}\",\"cluster\":\"C1\"}}\r\n",
                p.id
            )
            .as_bytes(),
        )
        .await;
    second
        .send(peer_info(&p.id, "P", 40000, "").as_bytes())
        .await;
    // A real peer sends its interest on the connection it keeps.
    second.send(b"RS+ $G foo\r\n").await;
    second.sync().await;
    assert_eq!(t.num_routes(), 1);

    // Every message goes out exactly once, over one connection or the other,
    // while one of them is retired (PINGs answered on both).
    let mut got = Vec::new();
    for i in 2..=40u32 {
        c.send(format!("PUB foo {}\r\n{i}\r\n", i.to_string().len()).as_bytes())
            .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < 39 && tokio::time::Instant::now() < deadline {
        for w in [&mut p.wire, &mut second] {
            if let Some(l) = next_or_eof(w, Duration::from_millis(50)).await {
                if l.starts_with("RMSG") {
                    let n: usize = l.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
                    let body = w.bytes(n + 2).await;
                    got.push(
                        String::from_utf8(body)
                            .unwrap()
                            .trim_end()
                            .parse::<u32>()
                            .unwrap(),
                    );
                }
            }
        }
    }
    got.sort();
    assert_eq!(
        got,
        (2..=40).collect::<Vec<_>>(),
        "each message exactly once"
    );
    // tracebus shut exactly one of the two (once the other answered a PING).
    let a = eof_within(&mut p.wire, Duration::from_secs(3)).await;
    let b = eof_within(&mut second, Duration::from_secs(3)).await;
    assert!(a ^ b, "one connection retired: {a} {b}");
    t.shutdown().await;
}
