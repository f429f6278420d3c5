//! The system account's request handlers (operator mode): account claim
//! updates pushed by operators (`tracebus-tools push`, `nsc push`), and,
//! with a full resolver, lookups and listings.
//!
//! The server subscribes in the system account through an internal client:
//! an ordinary [`ClientShared`] whose outbound queue is flushed into an
//! in-memory pipe that a task of this module reads back. Publishers deliver
//! to it exactly as to a socket client, so nothing on the message path knows
//! about it, and accounts other than the system account never see it.
//!
//! | subject | resolver | answer |
//! |---|---|---|
//! | `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE` | all | `{"data":{"account","code":200,"message"},"server":{…}}` or `{"error":{"account","code":500,"description"},"server":{…}}` |
//! | `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE` (older form) | all | same |
//! | `$SYS.REQ.CLAIMS.UPDATE` | full | same, key taken from the JWT |
//! | `$SYS.REQ.ACCOUNT.<key>.CLAIMS.LOOKUP` | full | the JWT, or an empty message |
//! | `$SYS.REQ.CLAIMS.LIST` | full | `{"data":[keys…],"server":{…}}` |
//!
//! Messages: nats-server 2.9's (`jwt updated`, `jwt update skipped`,
//! `jwt update resulted in error - …`, `jwt validation failed - validation
//! errors: […]`), checked against it by experiment.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::protocol::client::write_msg;

use super::account::Account;
use super::client::ClientShared;
use super::cluster::{pick_route_member, RouteTargets};
use super::operator::OperatorState;
use super::outbound::Queued;
use super::subscription::{Admit, SubRef, Subscription};
use super::{ServerShared, COMPAT_VERSION};

const SID_UPDATE: &str = "1";
const SID_UPDATE_OLD: &str = "2";
const SID_UPDATE_ANY: &str = "3";
const SID_LOOKUP: &str = "4";
const SID_LIST: &str = "5";

/// Subscribes the handlers in the system account `sys` and starts the task
/// that serves them.
pub(crate) fn start(
    server: &Arc<ServerShared>,
    op: &Arc<OperatorState>,
    sys: &str,
    mut stop: watch::Receiver<bool>,
) {
    let Some(account) = server.accounts.get(sys).map(|a| a.value().clone()) else {
        tracing::warn!("system account {sys} does not exist; claim updates are not served");
        return;
    };
    let cid = server.next_client_id();
    let client = Arc::new(ClientShared::new(cid, server.opts.max_pending));
    let (reader, writer) = tokio::io::duplex(64 * 1024);
    {
        let client = client.clone();
        let deadline = server.opts.write_deadline;
        tokio::spawn(async move { client.out.run_flusher(writer, deadline).await });
    }
    let mut subjects = vec![
        (SID_UPDATE, "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"),
        (SID_UPDATE_OLD, "$SYS.ACCOUNT.*.CLAIMS.UPDATE"),
    ];
    if op.resolver.is_full() {
        subjects.push((SID_UPDATE_ANY, "$SYS.REQ.CLAIMS.UPDATE"));
        subjects.push((SID_LOOKUP, "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"));
        subjects.push((SID_LIST, "$SYS.REQ.CLAIMS.LIST"));
    }
    let mut subs = Vec::new();
    for (sid, subject) in subjects {
        let sub = Arc::new(Subscription::new(
            client.clone(),
            &account,
            sid.as_bytes(),
            subject.as_bytes(),
            None,
        ));
        if account
            .sublist
            .insert(subject.as_bytes(), None, SubRef::Client(sub.clone()))
            .is_ok()
        {
            // Claim updates pushed to any node reach every node.
            if let Some(c) = &server.cluster {
                c.local_interest(&account.name, subject.as_bytes(), None, 1);
            }
            subs.push(sub);
        }
    }
    tracing::debug!("system account {sys}: serving claim requests (internal cid {cid})");
    let weak = Arc::downgrade(server);
    let op = op.clone();
    tokio::spawn(async move {
        let mut reader = reader;
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                r = reader.read_buf(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
            }
            while let Some(msg) = next_msg(&mut buf) {
                let Some(server) = weak.upgrade() else { return };
                let op = op.clone();
                let account = account.clone();
                let _ =
                    tokio::task::spawn_blocking(move || handle(&server, &op, &account, msg)).await;
            }
        }
        for sub in subs {
            if sub.close()
                && account
                    .sublist
                    .remove(&sub.subject, None, &SubRef::Client(sub.clone()))
                    .is_ok()
            {
                if let Some(server) = weak.upgrade() {
                    if let Some(c) = &server.cluster {
                        c.local_interest(&account.name, &sub.subject, None, -1);
                    }
                }
            }
        }
        client.out.close();
    });
}

/// One message delivered to the internal client.
struct Msg {
    subject: String,
    sid: String,
    reply: Option<String>,
    payload: Vec<u8>,
}

/// Takes one complete `MSG` (the internal client does not ask for headers,
/// so requests sent with HPUB arrive as their payload) off `buf`.
fn next_msg(buf: &mut BytesMut) -> Option<Msg> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (subject, sid, reply, len) = match parts.as_slice() {
        ["MSG", s, sid, n] => (*s, *sid, None, n.parse::<usize>().ok()?),
        ["MSG", s, sid, r, n] => (*s, *sid, Some(*r), n.parse::<usize>().ok()?),
        _ => {
            // Not expected from our own writer; drop the line.
            buf.advance(eol + 2);
            return None;
        }
    };
    if buf.len() < eol + 2 + len + 2 {
        return None;
    }
    let payload = buf[eol + 2..eol + 2 + len].to_vec();
    let msg = Msg {
        subject: subject.to_owned(),
        sid: sid.to_owned(),
        reply: reply.map(str::to_owned),
        payload,
    };
    buf.advance(eol + 2 + len + 2);
    Some(msg)
}

fn handle(server: &ServerShared, op: &OperatorState, sys: &Arc<Account>, msg: Msg) {
    let token = String::from_utf8_lossy(&msg.payload).into_owned();
    let account_token = |index: usize| msg.subject.split('.').nth(index).map(str::to_owned);
    match msg.sid.as_str() {
        SID_UPDATE | SID_UPDATE_OLD => {
            // $SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE / $SYS.ACCOUNT.<key>.CLAIMS.UPDATE
            let index = if msg.sid == SID_UPDATE { 3 } else { 2 };
            let Some(key) = account_token(index) else {
                return;
            };
            let (account, result) = op.claim_update(server, Some(&key), &token);
            respond_update(server, op, sys, msg.reply.as_deref(), &account, result);
        }
        SID_UPDATE_ANY => {
            let (account, result) = op.claim_update(server, None, &token);
            respond_update(server, op, sys, msg.reply.as_deref(), &account, result);
        }
        SID_LOOKUP => {
            let (Some(reply), Some(key)) = (msg.reply.as_deref(), account_token(3)) else {
                return;
            };
            let jwt = op.resolver.fetch(&key).unwrap_or_default();
            publish(sys, reply.as_bytes(), jwt.as_bytes());
        }
        SID_LIST => {
            let Some(reply) = msg.reply.as_deref() else {
                return;
            };
            #[derive(Serialize)]
            struct List<'a> {
                data: Vec<String>,
                server: ServerRef<'a>,
            }
            let body = List {
                data: op.resolver.list(),
                server: server_ref(server, op),
            };
            if let Ok(json) = crate::jwt::to_go_json(&body) {
                publish(sys, reply.as_bytes(), &json);
            }
        }
        _ => {}
    }
}

/// The `server` object of system answers (nats-server's `ServerInfo`).
#[derive(Serialize)]
struct ServerRef<'a> {
    name: &'a str,
    host: &'a str,
    id: &'a str,
    ver: &'a str,
    seq: u64,
    jetstream: bool,
    time: String,
}

fn server_ref<'a>(server: &'a ServerShared, op: &OperatorState) -> ServerRef<'a> {
    ServerRef {
        name: &server.info.server_name,
        host: &server.info.host,
        id: &server.info.server_id,
        ver: COMPAT_VERSION,
        seq: op.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        jetstream: false,
        time: rfc3339_nanos(SystemTime::now()),
    }
}

fn is_empty(s: &&str) -> bool {
    s.is_empty()
}

#[derive(Serialize)]
struct UpdateData<'a> {
    #[serde(skip_serializing_if = "is_empty")]
    account: &'a str,
    code: u16,
    message: &'a str,
}

#[derive(Serialize)]
struct UpdateError<'a> {
    #[serde(skip_serializing_if = "is_empty")]
    account: &'a str,
    code: u16,
    description: String,
}

/// The JSON answer of a claim update, logged like nats-server does.
pub(crate) fn update_answer(
    server: &ServerShared,
    op: &OperatorState,
    account: &str,
    result: &Result<&'static str, (&'static str, String)>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ok<'a> {
        data: UpdateData<'a>,
        server: ServerRef<'a>,
    }
    #[derive(Serialize)]
    struct Err<'a> {
        error: UpdateError<'a>,
        server: ServerRef<'a>,
    }
    let json = match result {
        std::result::Result::Ok(message) => {
            tracing::debug!("{message} - {account}");
            crate::jwt::to_go_json(&Ok {
                data: UpdateData {
                    account,
                    code: 200,
                    message,
                },
                server: server_ref(server, op),
            })
        }
        std::result::Result::Err((message, err)) => {
            tracing::error!("{message} - {account} - {err}");
            crate::jwt::to_go_json(&Err {
                error: UpdateError {
                    account,
                    code: 500,
                    description: format!("{message} - {err}"),
                },
                server: server_ref(server, op),
            })
        }
    };
    json.unwrap_or_default()
}

fn respond_update(
    server: &ServerShared,
    op: &OperatorState,
    sys: &Account,
    reply: Option<&str>,
    account: &str,
    result: Result<&'static str, (&'static str, String)>,
) {
    let body = update_answer(server, op, account, &result);
    if let Some(reply) = reply {
        publish(sys, reply.as_bytes(), &body);
    }
}

/// Delivers a message from the server to the subscribers of `subject` in
/// `account` (plain subscribers, and one member per queue group).
/// Subscribers on other nodes get it over the routes (a reply to a request
/// that came in over a route goes back the same way).
pub(crate) fn publish(account: &Account, subject: &[u8], payload: &[u8]) {
    let result = account.sublist.matches(subject);
    let mut routes = RouteTargets::default();
    let mark = routes.mark();
    for e in result.plain.iter() {
        match e {
            SubRef::Client(sub) => {
                deliver(sub, subject, payload);
            }
            SubRef::Route(r) => routes.add(mark, r, None),
            SubRef::Import(_) => {}
        }
    }
    for (gi, g) in result.queues.iter().enumerate() {
        let n = g.members.len();
        if n == 0 {
            continue;
        }
        let start = fastrand::usize(..n);
        let mut delivered = false;
        for i in 0..n {
            if let Some(sub) = g.members[(start + i) % n].as_client() {
                if deliver(sub, subject, payload) {
                    delivered = true;
                    break;
                }
            }
        }
        if !delivered {
            if let Some(r) = pick_route_member(&g.members) {
                routes.add(mark, r, Some(gi));
            }
        }
    }
    routes.flush(mark, &result, subject, None, None, payload);
    routes.wake();
}

fn deliver(sub: &Arc<Subscription>, subject: &[u8], payload: &[u8]) -> bool {
    if let Some(p) = &sub.deny {
        if p.delivery_denied(subject, sub.queue.as_deref()) {
            return false;
        }
    }
    if sub.admit() == Admit::Refuse {
        return false;
    }
    let len = 48 + subject.len() + sub.sid.len() + payload.len();
    let out = &sub.client.out;
    match out.queue_with(len, |b| write_msg(b, subject, &sub.sid, None, payload)) {
        Queued::NeedsFlush => out.wake(),
        Queued::Pending => {}
        Queued::Dropped => {
            if out.failure().is_some() {
                out.wake();
            }
        }
    }
    true
}

/// RFC 3339 in UTC with nanoseconds, trailing zeros trimmed, as Go's
/// `time.RFC3339Nano` prints it (`2026-11-22T00:59:31.382426381Z`).
pub(crate) fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = crate::auth::times::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_795_309_171, 382_426_381);
        assert_eq!(rfc3339_nanos(t), "2026-11-22T00:59:31.382426381Z");
        let t = UNIX_EPOCH + Duration::new(1_795_309_171, 380_000_000);
        assert_eq!(rfc3339_nanos(t), "2026-11-22T00:59:31.38Z");
        assert_eq!(
            rfc3339_nanos(UNIX_EPOCH + Duration::from_secs(0)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn msg_frames() {
        let mut b =
            BytesMut::from(&b"MSG a.b 1 _INBOX.x 3\r\nabc\r\nMSG c 2 0\r\n\r\nMSG d 3 5\r\nab"[..]);
        let m = next_msg(&mut b).unwrap();
        assert_eq!(
            (
                m.subject.as_str(),
                m.sid.as_str(),
                m.reply.as_deref(),
                &m.payload[..]
            ),
            ("a.b", "1", Some("_INBOX.x"), &b"abc"[..])
        );
        let m = next_msg(&mut b).unwrap();
        assert_eq!(
            (m.subject.as_str(), m.reply, m.payload.len()),
            ("c", None, 0)
        );
        assert!(next_msg(&mut b).is_none(), "incomplete");
        assert_eq!(&b[..], b"MSG d 3 5\r\nab");
    }
}
