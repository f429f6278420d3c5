//! The cluster (route) protocol: a pure, stateless parser for what a peer
//! server sends on a route connection, the writers for what we send, and the
//! route `INFO` / `CONNECT` JSON types.
//!
//! # Design
//! Same contract as [`super::client`]: [`parse`] looks at the unconsumed bytes
//! of the read buffer and answers one whole op (borrowing from the buffer, no
//! allocation) or [`Parsed::Incomplete`]; it remembers nothing between calls,
//! so any split of the stream across reads gives the same ops. Op names are
//! case-insensitive, fields are separated by runs of blanks.
//!
//! # Wire facts (nats-server 2.9.10, verified)
//! Verified by running `/usr/sbin/nats-server` 2.9.10 with a `cluster {}`
//! block on loopback and talking to it with a raw-socket fake peer (Python),
//! both as the accepting side and as the side it solicits (`routes: [...]`
//! pointing at the fake peer), plus a second real server and a real leafnode
//! server for gossip and `LS+`/`LMSG`. Exact captured bytes are the fixtures of
//! `tests/route_protocol_parse.rs`.
//!
//! Handshake:
//! - The accepting server sends its `INFO {...} \r\n` (note the space before
//!   CRLF, `proto:2`, a fresh `nonce`) immediately on accept, before reading.
//! - The soliciting server sends `CONNECT {...}\r\n` then its own
//!   `INFO {...} \r\n` at once, without waiting for the peer's INFO. The
//!   accepting side never sends CONNECT.
//! - The route is registered when the peer's INFO arrives (CONNECT alone does
//!   not register it; INFO without CONNECT does when no auth is required);
//!   then the server sends all its interest as `RS+`/`LS+` lines.
//! - Neither side sends PING right after CONNECT: the first `PING\r\n` comes
//!   about 1 s after the connection is created (jittered), then every
//!   `ping_interval`. `PING` is answered `PONG\r\n`.
//! - With cluster `authorization`, the INFO carries `auth_required:true`; a
//!   CONNECT with missing/wrong `user`/`pass`, or any op other than CONNECT
//!   first, gets `-ERR 'Authorization Violation'` and the connection closes.
//!   A CONNECT whose `cluster` differs gets
//!   `-ERR 'Rejecting connection, cluster name "X" does not match "C1"'`.
//!   An INFO with our own server id, a duplicate `server_name`, or another
//!   cluster name closes the route without a word. CONNECT keys are matched
//!   case-insensitively and missing booleans default to false (verbose off).
//! - `verbose:true` in the peer's CONNECT makes the server answer `+OK` after
//!   each `RS+`, `RS-` and `RMSG`.
//!
//! Interest:
//! - `RS+ <account> <subject>` on the first local subscription, nothing for
//!   more of the same subject, `RS- <account> <subject>` when the last goes.
//! - Queue groups: `RS+ <account> <subject> <queue> <weight>`, the weight being
//!   the number of local members; every change re-sends `RS+` with the new
//!   weight; `RS- <account> <subject> <queue>` when the last member goes.
//! - Received interest is keyed, not counted: `RS+` twice then one `RS-`
//!   removes it. `RS-` for unknown interest and `RS+` for an unknown account
//!   are ignored (connection stays up). An invalid subject in `RS+` gets a
//!   non-closing `-ERR 'Invalid Subscription'`.
//! - A weight that is `0` or not 1–9 digits is accepted but makes the group
//!   member unreachable (nothing is ever forwarded to it); [`RouteOp::Sub`]
//!   reports such weights as 0.
//! - Subscriptions that come from a leafnode are announced, when the peer's
//!   CONNECT/INFO said `"lnoc":true`, as `LS+ <origin-cluster> <account>
//!   <subject> [<queue> <weight>]`, withdrawn as `LS-  <account> <subject>
//!   [<queue>]` (nats-server writes **two** spaces after `LS-` and no origin).
//!   Without `lnoc` they are plain `RS+`/`RS-`. On receipt `LS-` (and even
//!   `UNSUB`) is processed exactly like `RS-`.
//!
//! Messages (one per route, never forwarded route-to-route):
//! - `RMSG <account> <subject> [<reply>] <size>\r\n<payload>\r\n`.
//! - If the peer has queue interest that matches: `RMSG <account> <subject> |
//!   <q1> <q2>… <size>` or, with a reply, `RMSG <account> <subject> + <reply>
//!   <q1>… <size>`. The receiver delivers to all its plain subscribers and to
//!   the listed groups only.
//! - Arguments are decided by count, as nats-server does: 3 → no reply, 4 →
//!   the third is the reply *whatever it is* (`RMSG $G s | 5` delivers with
//!   reply `|`), 5+ → the third must be exactly `+` or `|`.
//! - With headers the op is `HMSG` with the same forms plus `<hdr_len>
//!   <total_len>` instead of `<size>`; an `HMSG` with `hdr_len` 0 is delivered
//!   as a plain message. A client's `HPUB` with `hdr_len` 0 crosses as `RMSG`.
//! - Messages published by a leafnode client, to an `lnoc` peer, cross as
//!   `LMSG <origin> <account> <subject> [reply | + reply q… | \| q…] <hdr_len>
//!   <total_len>` (always with header sizes, `0` when there are none).
//! - A message for an unknown account is dropped silently.
//!
//! Gossip and lame duck:
//! - When a new server registers, every server already connected to it
//!   receives that server's INFO with `"ip":"nats-route://<host>:<port>/"`
//!   added and the nonce removed, written `INFO {...}\r\n` (**no** space before
//!   CRLF), and is expected to solicit it ([`write_gossip_info`]).
//! - Entering lame duck, a server sends its routes its INFO without nonce and
//!   with `"ldm":true` (` \r\n` ending); routes stay up until shutdown.
//!
//! Limits and garbage:
//! - nats-server applies **no** control-line limit and **no** max payload on
//!   routes (a 10 000-byte `RS+` and a 2 MiB `RMSG` to a 1 MiB server pass).
//!   This parser still bounds both with the [`Limits`] it is given, to bound
//!   memory; use [`ROUTE_LIMITS`] or larger.
//! - Unknown op → `-ERR 'Unknown Protocol Operation'` and close; bad arguments
//!   (count, size, reply indicator) → close without a word; a payload not
//!   followed by CRLF → `-ERR 'Unknown Protocol Operation'`; `-ERR` from the
//!   peer → close; bad INFO/CONNECT JSON → close. `MSG` is unknown on a route.
//! - A stray CR inside a control line makes nats-server drop the byte just
//!   before the LF (`RMSG $G foo\r5\n` is `$G foo` → bad count) and splits
//!   arguments there; this parser does the same.
//! - `SUB …`, `PUB …`/`HPUB …` (with payload) and `A+`/`A-` are read and then
//!   ignored on a route ([`RouteOp::Ignored`]).

use std::io;

use bytes::{BufMut, BytesMut};
use memchr::memchr;
use serde::{Deserialize, Serialize};

use super::client::{write_u64, ERR_MAX_CONTROL_LINE, ERR_MAX_PAYLOAD, ERR_UNKNOWN_OP};
pub use super::client::{Limits, OK, PING, PONG};
use super::lex::{self, is_blank, parse_size, split};

/// Suggested parser limits for route connections. nats-server enforces none
/// on routes, so these only bound memory: control lines up to 1 MiB (an
/// `RMSG` can list many queue groups) and bodies up to 64 MiB (nats-server's
/// `max_payload` cannot exceed its `max_pending`, 64 MiB by default).
pub const ROUTE_LIMITS: Limits = Limits {
    max_control_line: 1024 * 1024,
    max_payload: 64 * 1024 * 1024,
};

/// One complete op received on a route; every slice borrows from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp<'a> {
    /// `INFO <json>`: decode with [`parse_route_info`]. Besides the first one,
    /// a route receives gossip INFOs about other servers (other `server_id`,
    /// `ip` set) and updates of the peer itself (`ldm`, permissions).
    Info(&'a [u8]),
    /// `CONNECT <json>` (only from the soliciting side): decode with
    /// [`parse_route_connect`].
    Connect(&'a [u8]),
    /// `PING` (text up to the LF ignored).
    Ping,
    /// `PONG` (text up to the LF ignored).
    Pong,
    /// `+OK` (sent by a server only to a peer that asked for `verbose`).
    Ok,
    /// `-ERR <text>`, raw (quotes included). nats-server closes the route.
    Err(&'a [u8]),
    /// `RS+ <account> <subject> [<queue> <weight>]`. `weight` is 0 when it is
    /// `0` or not 1–9 digits: nats-server accepts the line but never picks
    /// such a member.
    Sub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS- <account> <subject> [<queue>]`; also what `UNSUB` with the same
    /// arguments means on a route (nats-server handles both alike).
    Unsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    /// `LS+ <origin> <account> <subject> [<queue> <weight>]`: interest of a
    /// leafnode behind the peer; `origin` is the leafnode's cluster name.
    LeafSub {
        origin: &'a [u8],
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// `LS- <account> <subject> [<queue>]` (no origin). nats-server 2.9.10
    /// removes the same entry `RS-` would.
    LeafUnsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    /// `RMSG`, `HMSG` or `LMSG`. `origin` is set for `LMSG` only. `headers` is
    /// `Some` for `HMSG`/`LMSG` (possibly empty: deliver as a plain message
    /// then). `queues` lists the queue groups the sender picked us for; when
    /// empty the message is for plain subscribers only.
    Msg {
        origin: Option<&'a [u8]>,
        account: &'a [u8],
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        queues: Queues<'a>,
        headers: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    /// An op nats-server reads on a route and then ignores.
    Ignored(IgnoredOp),
}

/// Ops that nats-server 2.9.10 parses on a route connection without effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredOp {
    /// `SUB <anything>` (a blank after `SUB` is required).
    Sub,
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub,
    /// `HPUB <subject> [reply] <hdr_len> <total_len>` and its body.
    HPub,
    /// `A+ <text>` (gateway protocol).
    AccountSub,
    /// `A- <text>` or `Au <text>` (gateway protocol).
    AccountUnsub,
}

/// The queue-group names of a routed message, borrowed as one slice of names
/// separated by runs of blanks (as received) or single spaces (as written).
#[derive(Clone, Copy, Default)]
pub struct Queues<'a> {
    raw: &'a [u8],
}

impl<'a> Queues<'a> {
    /// No queue groups.
    pub const EMPTY: Queues<'static> = Queues { raw: b"" };

    /// Wraps names separated by blanks (spaces, tabs) or CRs.
    pub fn from_raw(raw: &'a [u8]) -> Self {
        Queues { raw }
    }

    /// The names as received (separators included).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether `name` is one of the names.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|q| q == name)
    }

    pub fn iter(&self) -> QueueNames<'a> {
        QueueNames { rest: self.raw }
    }
}

impl<'a> IntoIterator for Queues<'a> {
    type Item = &'a [u8];
    type IntoIter = QueueNames<'a>;
    fn into_iter(self) -> QueueNames<'a> {
        self.iter()
    }
}

/// Equal when the names are equal, however they were separated.
impl PartialEq for Queues<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Queues<'_> {}

impl std::fmt::Debug for Queues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Iterator over the names of a [`Queues`].
#[derive(Clone, Debug)]
pub struct QueueNames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for QueueNames<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest;
        let begin = s.iter().position(|&b| !is_sep(b))?;
        let len = s[begin..]
            .iter()
            .position(|&b| is_sep(b))
            .unwrap_or(s.len() - begin);
        self.rest = &s[begin + len..];
        Some(&s[begin..begin + len])
    }
}

/// Result of one [`parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole op; the caller drops `consumed` bytes from the buffer front.
    Op { op: RouteOp<'a>, consumed: usize },
    /// The buffer ends inside an op. `need` is the op's total size once its
    /// control line is complete (line + body + CRLF), `None` before that.
    Incomplete { need: Option<usize> },
}

/// Which op a [`RouteParseError`] about arguments refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteArgOp {
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    Unsub,
    RMsg,
    HMsg,
    LMsg,
    Pub,
    HPub,
}

impl std::fmt::Display for RouteArgOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RouteArgOp::RsPlus => "RS+",
            RouteArgOp::RsMinus => "RS-",
            RouteArgOp::LsPlus => "LS+",
            RouteArgOp::LsMinus => "LS-",
            RouteArgOp::Unsub => "UNSUB",
            RouteArgOp::RMsg => "RMSG",
            RouteArgOp::HMsg => "HMSG",
            RouteArgOp::LMsg => "LMSG",
            RouteArgOp::Pub => "PUB",
            RouteArgOp::HPub => "HPUB",
        })
    }
}

/// Why a byte stream is not valid route protocol. Every variant ends the
/// route; [`RouteParseError::err_text`] says whether an `-ERR` goes first.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RouteParseError {
    /// A byte that cannot start or continue a route op name, or a missing
    /// blank after a name that needs one (`RS+\r\n`, `MSG`, ` PING`).
    #[error("unknown protocol operation")]
    UnknownOp,
    /// Arguments longer than `max_control_line` (our bound; nats-server has
    /// none on routes).
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// A body larger than `max_payload` (our bound; nats-server has none on
    /// routes).
    #[error("maximum payload exceeded: {size} > {max}")]
    MaxPayload { size: usize, max: usize },
    /// Wrong number of arguments.
    #[error("{op}: wrong number of arguments")]
    ArgCount { op: RouteArgOp },
    /// A size or header size that is not 1–9 ASCII digits.
    #[error("{op}: bad or missing size")]
    BadSize { op: RouteArgOp },
    /// Five or more message arguments whose third is not exactly `+` or `|`.
    #[error("{op}: bad or missing reply indicator")]
    BadReplyIndicator { op: RouteArgOp },
    /// Header length larger than total length.
    #[error("{op}: header size {hdr} larger than total size {total}")]
    HeaderSizeTooLarge {
        op: RouteArgOp,
        hdr: usize,
        total: usize,
    },
    /// The body is not followed by CRLF.
    #[error("message payload not followed by CRLF")]
    BadPayloadEnd,
}

impl RouteParseError {
    /// The text to send as `-ERR '<text>'` before closing, or `None` where
    /// nats-server closes the route without a word (argument errors).
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            RouteParseError::UnknownOp | RouteParseError::BadPayloadEnd => Some(ERR_UNKNOWN_OP),
            RouteParseError::MaxControlLine => Some(ERR_MAX_CONTROL_LINE),
            RouteParseError::MaxPayload { .. } => Some(ERR_MAX_PAYLOAD),
            RouteParseError::ArgCount { .. }
            | RouteParseError::BadSize { .. }
            | RouteParseError::BadReplyIndicator { .. }
            | RouteParseError::HeaderSizeTooLarge { .. } => None,
        }
    }
}

type E = RouteParseError;

const INCOMPLETE: Parsed<'static> = Parsed::Incomplete { need: None };

/// Parses the first op in `buf`.
///
/// Returns [`Parsed::Op`] with the bytes it used, or [`Parsed::Incomplete`]
/// when more bytes are needed (an empty buffer included). Errors are final:
/// close the route (after `err_text`, if any).
#[inline]
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, RouteParseError> {
    // Hot path: "RMSG " / "rmsg\t" ...
    if buf.len() >= 5
        && buf[0] | 0x20 == b'r'
        && buf[1] | 0x20 == b'm'
        && buf[2] | 0x20 == b's'
        && buf[3] | 0x20 == b'g'
        && is_blank(buf[4])
    {
        return parse_msg(buf, 5, MsgForm::R, limits);
    }
    parse_other(buf, limits)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Ping,
    Pong,
    Ok,
    Err,
    Connect,
    Info,
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    RMsg,
    HMsg,
    LMsg,
    Sub,
    Unsub,
    Pub,
    HPub,
    AccSub,
    AccUnsub,
}

/// Route arguments are split at blanks and CRs (nats-server's `splitArg`).
#[inline(always)]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// Recognizes the op name at the front of `buf`: `Ok(None)` while it may
/// still become a valid name, the name and its length once complete.
fn op_name(buf: &[u8]) -> Result<Option<(Name, usize)>, E> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let second = buf.get(1).map(|b| b | 0x20);
    let (name, text): (Name, &[u8]) = match b0 {
        b'+' => (Name::Ok, b"+OK"),
        b'-' => (Name::Err, b"-ERR"),
        _ if !b0.is_ascii_alphabetic() => return Err(E::UnknownOp),
        _ => match b0 | 0x20 {
            b'p' => match second {
                None => return Ok(None),
                Some(b'u') => (Name::Pub, b"PUB"),
                Some(b'i') => (Name::Ping, b"PING"),
                Some(b'o') => (Name::Pong, b"PONG"),
                Some(_) => return Err(E::UnknownOp),
            },
            b'h' => match second {
                None => return Ok(None),
                Some(b'p') => (Name::HPub, b"HPUB"),
                Some(b'm') => (Name::HMsg, b"HMSG"),
                Some(_) => return Err(E::UnknownOp),
            },
            b'r' | b'l' => {
                let r = b0 | 0x20 == b'r';
                match second {
                    None => return Ok(None),
                    Some(b'm') if r => (Name::RMsg, b"RMSG"),
                    Some(b'm') => (Name::LMsg, b"LMSG"),
                    Some(b's') => match buf.get(2) {
                        None => return Ok(None),
                        Some(b'+') if r => (Name::RsPlus, b"RS+"),
                        Some(b'-') if r => (Name::RsMinus, b"RS-"),
                        Some(b'+') => (Name::LsPlus, b"LS+"),
                        Some(b'-') => (Name::LsMinus, b"LS-"),
                        Some(_) => return Err(E::UnknownOp),
                    },
                    Some(_) => return Err(E::UnknownOp),
                }
            }
            // nats-server takes `A+`, `A-` and (lower-case only) `Au`.
            b'a' => {
                return match buf.get(1) {
                    None => Ok(None),
                    Some(b'+') => Ok(Some((Name::AccSub, 2))),
                    Some(b'-' | b'u') => Ok(Some((Name::AccUnsub, 2))),
                    Some(_) => Err(E::UnknownOp),
                }
            }
            b's' => (Name::Sub, b"SUB"),
            b'u' => (Name::Unsub, b"UNSUB"),
            b'c' => (Name::Connect, b"CONNECT"),
            b'i' => (Name::Info, b"INFO"),
            _ => return Err(E::UnknownOp),
        },
    };
    for (i, &want) in text.iter().enumerate().skip(1) {
        match buf.get(i) {
            None => return Ok(None),
            // Letters fold case (`| 0x20` maps no other byte onto a letter);
            // `+` and `-` must match exactly.
            Some(&b) if b == want || (want.is_ascii_alphabetic() && b | 0x20 == want | 0x20) => {}
            Some(_) => return Err(E::UnknownOp),
        }
    }
    Ok(Some((name, text.len())))
}

#[inline(never)]
fn parse_other<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, E> {
    let Some((name, n)) = op_name(buf)? else {
        return Ok(INCOMPLETE);
    };
    match name {
        Name::Ping | Name::Pong | Name::Ok => {
            let op = match name {
                Name::Ping => RouteOp::Ping,
                Name::Pong => RouteOp::Pong,
                _ => RouteOp::Ok,
            };
            match memchr(b'\n', &buf[n..]) {
                Some(i) => Ok(Parsed::Op {
                    op,
                    consumed: n + i + 1,
                }),
                // nats-server discards such text as it goes; we must buffer
                // it, so bound it like a control line.
                None if buf.len() - n > limits.max_control_line => Err(E::MaxControlLine),
                None => Ok(INCOMPLETE),
            }
        }
        Name::Connect | Name::Info => Ok(match line(buf, n, limits)? {
            Some((args, consumed)) => Parsed::Op {
                op: if name == Name::Connect {
                    RouteOp::Connect(args)
                } else {
                    RouteOp::Info(args)
                },
                consumed,
            },
            None => INCOMPLETE,
        }),
        _ => {
            match buf.get(n) {
                None => return Ok(INCOMPLETE),
                Some(&b) if is_blank(b) => {}
                Some(_) => return Err(E::UnknownOp),
            }
            let from = n + 1;
            match name {
                Name::RMsg => return parse_msg(buf, from, MsgForm::R, limits),
                Name::HMsg => return parse_msg(buf, from, MsgForm::H, limits),
                Name::LMsg => return parse_msg(buf, from, MsgForm::L, limits),
                Name::Pub => return parse_pub(buf, from, false, limits),
                Name::HPub => return parse_pub(buf, from, true, limits),
                _ => {}
            }
            let Some((args, consumed)) = line(buf, from, limits)? else {
                return Ok(INCOMPLETE);
            };
            let op = match name {
                Name::Err => RouteOp::Err(args),
                Name::Sub => RouteOp::Ignored(IgnoredOp::Sub),
                Name::AccSub => RouteOp::Ignored(IgnoredOp::AccountSub),
                Name::AccUnsub => RouteOp::Ignored(IgnoredOp::AccountUnsub),
                Name::RsPlus => sub_args(args, false)?,
                Name::LsPlus => sub_args(args, true)?,
                Name::RsMinus => unsub_args(args, RouteArgOp::RsMinus)?,
                Name::LsMinus => unsub_args(args, RouteArgOp::LsMinus)?,
                _ => unsub_args(args, RouteArgOp::Unsub)?,
            };
            Ok(Parsed::Op { op, consumed })
        }
    }
}

/// Finds the argument text of a control line whose name (and blank) end
/// before `from`: from the first non-blank byte to the LF, minus the byte
/// before the LF when it is a CR or when a CR occurs after the first argument
/// byte (nats-server's rule: normally that drops the CR of CRLF; with a stray
/// CR mid-line it drops whatever byte precedes the LF).
/// Returns the arguments and the line length including the LF, or `None`
/// when the line is not complete. Enforces `max_control_line` either way.
#[inline(always)]
fn line<'a>(buf: &'a [u8], from: usize, limits: &Limits) -> Result<Option<(&'a [u8], usize)>, E> {
    let mut start = from;
    while start < buf.len() && is_blank(buf[start]) {
        start += 1;
    }
    if start == buf.len() {
        // Only blanks so far: bound what we must keep buffered.
        if buf.len() - from > limits.max_control_line {
            return Err(E::MaxControlLine);
        }
        return Ok(None);
    }
    match memchr(b'\n', &buf[start..]) {
        Some(i) => {
            let lf = start + i;
            // (nats-server keeps a CR at the very first argument byte; it
            // cannot tell apart from the CR before the LF when that is all.)
            let drop = lf > start
                && (buf[lf - 1] == b'\r'
                    || (lf > start + 1 && memchr(b'\r', &buf[start + 1..lf - 1]).is_some()));
            let end = lf - drop as usize;
            if end - start > limits.max_control_line {
                return Err(E::MaxControlLine);
            }
            Ok(Some((&buf[start..end], lf + 1)))
        }
        None => {
            // The final arguments will be at least this long.
            let mut len = buf.len() - start;
            if memchr(b'\r', &buf[start..]).is_some() {
                len -= 1;
            }
            if len > limits.max_control_line {
                return Err(E::MaxControlLine);
            }
            Ok(None)
        }
    }
}

/// A queue weight as nats-server reads it; 0 stands for its "unusable" values.
#[inline]
fn weight(d: &[u8]) -> u32 {
    parse_size(d).map_or(0, |n| n as u32)
}

/// `RS+` / `LS+` arguments.
fn sub_args(args: &[u8], leaf: bool) -> Result<RouteOp<'_>, E> {
    if leaf {
        let (a, queue) = match split::<5>(args, is_sep) {
            Some((a, 3)) => (a, None),
            Some((a, 5)) => (a, Some((a[3], weight(a[4])))),
            _ => {
                return Err(E::ArgCount {
                    op: RouteArgOp::LsPlus,
                })
            }
        };
        Ok(RouteOp::LeafSub {
            origin: a[0],
            account: a[1],
            subject: a[2],
            queue,
        })
    } else {
        let (a, queue) = match split::<4>(args, is_sep) {
            Some((a, 2)) => (a, None),
            Some((a, 4)) => (a, Some((a[2], weight(a[3])))),
            _ => {
                return Err(E::ArgCount {
                    op: RouteArgOp::RsPlus,
                })
            }
        };
        Ok(RouteOp::Sub {
            account: a[0],
            subject: a[1],
            queue,
        })
    }
}

/// `RS-` / `LS-` / `UNSUB` arguments: `<account> <subject> [<queue>]`.
fn unsub_args(args: &[u8], op: RouteArgOp) -> Result<RouteOp<'_>, E> {
    let (a, queue) = match split::<3>(args, is_sep) {
        Some((a, 2)) => (a, None),
        Some((a, 3)) => (a, Some(a[2])),
        _ => return Err(E::ArgCount { op }),
    };
    let (account, subject) = (a[0], a[1]);
    Ok(if op == RouteArgOp::LsMinus {
        RouteOp::LeafUnsub {
            account,
            subject,
            queue,
        }
    } else {
        RouteOp::Unsub {
            account,
            subject,
            queue,
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MsgForm {
    /// `RMSG <account> <subject> … <size>`
    R,
    /// `HMSG <account> <subject> … <hdr_len> <total_len>`
    H,
    /// `LMSG <origin> <account> <subject> … <hdr_len> <total_len>`
    L,
}

impl MsgForm {
    fn op(self) -> RouteArgOp {
        match self {
            MsgForm::R => RouteArgOp::RMsg,
            MsgForm::H => RouteArgOp::HMsg,
            MsgForm::L => RouteArgOp::LMsg,
        }
    }
    /// Leading fields before the optional reply/indicator.
    fn fixed(self) -> usize {
        if self == MsgForm::L {
            3
        } else {
            2
        }
    }
    /// Trailing size fields.
    fn sizes(self) -> usize {
        if self == MsgForm::R {
            1
        } else {
            2
        }
    }
}

/// Token spans of a message control line: the first six and the last three
/// (enough for every form), plus the count. Queue names stay one slice.
struct Tokens {
    first: [(usize, usize); 6],
    last: [(usize, usize); 3],
    n: usize,
}

impl Tokens {
    fn new(s: &[u8]) -> Tokens {
        let mut t = Tokens {
            first: [(0, 0); 6],
            last: [(0, 0); 3],
            n: 0,
        };
        let mut i = 0;
        while i < s.len() {
            if is_sep(s[i]) {
                i += 1;
                continue;
            }
            let begin = i;
            while i < s.len() && !is_sep(s[i]) {
                i += 1;
            }
            if t.n < t.first.len() {
                t.first[t.n] = (begin, i);
            }
            t.last = [t.last[1], t.last[2], (begin, i)];
            t.n += 1;
        }
        t
    }

    /// The `k`-th token from the end (1 = last); `k` ≤ 3 and ≤ `n`.
    fn back(&self, k: usize) -> (usize, usize) {
        self.last[3 - k]
    }
}

/// `RMSG` / `HMSG` / `LMSG` starting at `buf[0]`, arguments from `from`.
#[inline(always)]
fn parse_msg<'a>(
    buf: &'a [u8],
    from: usize,
    form: MsgForm,
    limits: &Limits,
) -> Result<Parsed<'a>, E> {
    let Some((args, line_len)) = line(buf, from, limits)? else {
        return Ok(INCOMPLETE);
    };
    let op = form.op();
    let t = Tokens::new(args);
    let fixed = form.fixed();
    let sizes = form.sizes();
    if t.n < fixed + sizes {
        return Err(E::ArgCount { op });
    }
    let tok = |(a, b): (usize, usize)| &args[a..b];
    let (reply, queues) = if t.n == fixed + sizes {
        (None, Queues::EMPTY)
    } else if t.n == fixed + sizes + 1 {
        // Counted as reply whatever it is, `+` and `|` included.
        (Some(tok(t.first[fixed])), Queues::EMPTY)
    } else {
        let (reply, first_q) = match tok(t.first[fixed]) {
            b"+" => (Some(tok(t.first[fixed + 1])), fixed + 2),
            b"|" => (None, fixed + 1),
            _ => return Err(E::BadReplyIndicator { op }),
        };
        // Index of the last queue name: the one before the sizes.
        let last_q = t.n - sizes - 1;
        let queues = if first_q <= last_q {
            Queues::from_raw(&args[t.first[first_q].0..t.back(sizes + 1).1])
        } else {
            Queues::EMPTY
        };
        (reply, queues)
    };
    let bad = E::BadSize { op };
    let (hdr, total) = if form == MsgForm::R {
        (None, parse_size(tok(t.back(1))).ok_or(bad)?)
    } else {
        let hdr = parse_size(tok(t.back(2))).ok_or(bad.clone())?;
        let total = parse_size(tok(t.back(1))).ok_or(bad)?;
        if hdr > total {
            return Err(E::HeaderSizeTooLarge { op, hdr, total });
        }
        (Some(hdr), total)
    };
    if total > limits.max_payload {
        return Err(E::MaxPayload {
            size: total,
            max: limits.max_payload,
        });
    }
    let need = line_len + total + 2;
    let Some(body) = body(buf, line_len, total)? else {
        return Ok(Parsed::Incomplete { need: Some(need) });
    };
    let (origin, account, subject) = if form == MsgForm::L {
        (Some(tok(t.first[0])), tok(t.first[1]), tok(t.first[2]))
    } else {
        (None, tok(t.first[0]), tok(t.first[1]))
    };
    let (headers, payload) = match hdr {
        Some(h) => (Some(&body[..h]), &body[h..]),
        None => (None, body),
    };
    Ok(Parsed::Op {
        op: RouteOp::Msg {
            origin,
            account,
            subject,
            reply,
            queues,
            headers,
            payload,
        },
        consumed: need,
    })
}

/// `PUB`/`HPUB` on a route: read (size checks included) and ignored.
fn parse_pub<'a>(buf: &'a [u8], from: usize, hpub: bool, limits: &Limits) -> Result<Parsed<'a>, E> {
    let Some((args, line_len)) = line(buf, from, limits)? else {
        return Ok(INCOMPLETE);
    };
    let (op, ignored) = if hpub {
        (RouteArgOp::HPub, IgnoredOp::HPub)
    } else {
        (RouteArgOp::Pub, IgnoredOp::Pub)
    };
    // Like a client's PUB/HPUB: split at blanks only, optional reply.
    let total = match split::<4>(args, is_blank) {
        Some((a, n @ (2 | 3))) if !hpub => parse_size(a[n - 1]).ok_or(E::BadSize { op })?,
        Some((a, n @ (3 | 4))) if hpub => {
            let hdr = parse_size(a[n - 2]).ok_or(E::BadSize { op })?;
            let total = parse_size(a[n - 1]).ok_or(E::BadSize { op })?;
            if hdr > total {
                return Err(E::HeaderSizeTooLarge { op, hdr, total });
            }
            total
        }
        _ => return Err(E::ArgCount { op }),
    };
    if total > limits.max_payload {
        return Err(E::MaxPayload {
            size: total,
            max: limits.max_payload,
        });
    }
    let need = line_len + total + 2;
    Ok(match body(buf, line_len, total)? {
        Some(_) => Parsed::Op {
            op: RouteOp::Ignored(ignored),
            consumed: need,
        },
        None => Parsed::Incomplete { need: Some(need) },
    })
}

#[inline(always)]
fn body(buf: &[u8], start: usize, size: usize) -> Result<Option<&[u8]>, E> {
    lex::body(buf, start, size).map_err(|_| E::BadPayloadEnd)
}

// ---------------------------------------------------------------------------
// Writers. Each reserves its output once, then appends; nothing else is
// allocated.

/// Room for a decimal `u64`.
const DIGITS: usize = 20;

fn write_interest(
    out: &mut BytesMut,
    op: &[u8],
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    weight: Option<u32>,
) {
    let origin_len = origin.map_or(0, |o| o.len() + 1);
    let queue_len = queue.map_or(0, |q| q.len() + 1 + DIGITS);
    out.reserve(op.len() + origin_len + account.len() + 1 + subject.len() + queue_len + 2);
    out.extend_from_slice(op);
    if let Some(o) = origin {
        out.extend_from_slice(o);
        out.put_u8(b' ');
    }
    out.extend_from_slice(account);
    out.put_u8(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.put_u8(b' ');
        out.extend_from_slice(q);
        if let Some(w) = weight {
            out.put_u8(b' ');
            write_u64(out, u64::from(w));
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `RS+ <account> <subject>[ <queue> <weight>]\r\n`. Send it for the
/// first local subscription on a subject, and for queue groups again whenever
/// the member count (the weight, ≥ 1) changes.
pub fn write_rs_plus(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    write_interest(
        out,
        b"RS+ ",
        None,
        account,
        subject,
        queue.map(|q| q.0),
        queue.map(|q| q.1),
    );
}

/// Appends `RS- <account> <subject>[ <queue>]\r\n` (last subscription gone).
pub fn write_rs_minus(out: &mut BytesMut, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    write_interest(out, b"RS- ", None, account, subject, queue, None);
}

/// Appends `LS+ <origin> <account> <subject>[ <queue> <weight>]\r\n`, the
/// interest of a leafnode from cluster `origin`, for peers that sent `lnoc`.
pub fn write_ls_plus(
    out: &mut BytesMut,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    write_interest(
        out,
        b"LS+ ",
        Some(origin),
        account,
        subject,
        queue.map(|q| q.0),
        queue.map(|q| q.1),
    );
}

/// Appends `LS- <account> <subject>[ <queue>]\r\n`. (nats-server 2.9.10 writes
/// two spaces after `LS-`; one is what every parser expects.)
pub fn write_ls_minus(out: &mut BytesMut, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    write_interest(out, b"LS- ", None, account, subject, queue, None);
}

/// Appends the shared message control line up to (excluding) the sizes:
/// `<op><origin >account subject[ reply| + reply q…| | q…] `.
#[allow(clippy::too_many_arguments)]
fn write_msg_head(
    out: &mut BytesMut,
    op: &[u8],
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    body_len: usize,
) {
    let origin_len = origin.map_or(0, |o| o.len() + 1);
    let reply_len = reply.map_or(0, |r| r.len() + 3);
    let queues_len: usize = queues.iter().map(|q| q.len() + 1).sum::<usize>() + 2;
    out.reserve(
        op.len()
            + origin_len
            + account.len()
            + 1
            + subject.len()
            + 1
            + reply_len
            + queues_len
            + 2 * DIGITS
            + 3
            + body_len
            + 2,
    );
    out.extend_from_slice(op);
    if let Some(o) = origin {
        out.extend_from_slice(o);
        out.put_u8(b' ');
    }
    out.extend_from_slice(account);
    out.put_u8(b' ');
    out.extend_from_slice(subject);
    out.put_u8(b' ');
    if queues.is_empty() {
        if let Some(r) = reply {
            out.extend_from_slice(r);
            out.put_u8(b' ');
        }
    } else {
        match reply {
            Some(r) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(r);
                out.put_u8(b' ');
            }
            None => out.extend_from_slice(b"| "),
        }
        for q in queues {
            out.extend_from_slice(q);
            out.put_u8(b' ');
        }
    }
}

/// Appends an `RMSG`: `RMSG <account> <subject> [reply] <n>` without queue
/// groups, `RMSG <account> <subject> + <reply> <q>… <n>` or
/// `RMSG <account> <subject> | <q>… <n>` with them; then payload and CRLF.
pub fn write_rmsg(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    payload: &[u8],
) {
    write_msg_head(
        out,
        b"RMSG ",
        None,
        account,
        subject,
        reply,
        queues,
        payload.len(),
    );
    write_u64(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[allow(clippy::too_many_arguments)]
fn write_header_msg(
    out: &mut BytesMut,
    op: &[u8],
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    headers: &[u8],
    payload: &[u8],
) {
    let total = headers.len() + payload.len();
    write_msg_head(out, op, origin, account, subject, reply, queues, total);
    write_u64(out, headers.len() as u64);
    out.put_u8(b' ');
    write_u64(out, total as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends an `HMSG` (routed message with a header block): the `RMSG` forms
/// with `<hdr_len> <total_len>` in place of the size.
pub fn write_rhmsg(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    headers: &[u8],
    payload: &[u8],
) {
    write_header_msg(
        out, b"HMSG ", None, account, subject, reply, queues, headers, payload,
    );
}

/// Appends an `LMSG` (message from a leafnode of cluster `origin`, for peers
/// that sent `lnoc`): always the header form, `0 <n>` without headers.
#[allow(clippy::too_many_arguments)]
pub fn write_lmsg(
    out: &mut BytesMut,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    headers: &[u8],
    payload: &[u8],
) {
    write_header_msg(
        out,
        b"LMSG ",
        Some(origin),
        account,
        subject,
        reply,
        queues,
        headers,
        payload,
    );
}

/// Appends `INFO <json> \r\n` (space before CRLF, as nats-server writes the
/// INFO it sends on every new route and its lame-duck INFO).
pub fn write_route_info(out: &mut BytesMut, info: &RouteInfo) {
    out.extend_from_slice(b"INFO ");
    write_go_json(out, info);
    out.extend_from_slice(b" \r\n");
}

/// Appends `INFO <json>\r\n` (no space): the form nats-server uses when it
/// passes a new peer's INFO (with `ip` set and `nonce` cleared) on to the
/// routes it already has.
pub fn write_gossip_info(out: &mut BytesMut, info: &RouteInfo) {
    out.extend_from_slice(b"INFO ");
    write_go_json(out, info);
    out.extend_from_slice(b"\r\n");
}

/// Appends `CONNECT <json>\r\n`, sent first by the soliciting side.
pub fn write_route_connect(out: &mut BytesMut, connect: &RouteConnect) {
    out.extend_from_slice(b"CONNECT ");
    write_go_json(out, connect);
    out.extend_from_slice(b"\r\n");
}

/// Serializes like Go's `encoding/json.Marshal` (Go 1.19), so route INFO and
/// CONNECT lines are byte-identical to nats-server's: `<`, `>`, `&`, U+2028
/// and U+2029 are escaped as `\u003c` etc., and every control character but
/// `\n`, `\r`, `\t` as `\u00xx`.
fn write_go_json<T: Serialize>(out: &mut BytesMut, value: &T) {
    let mut ser = serde_json::Serializer::with_formatter(out.writer(), GoFormatter);
    // Plain strings, numbers, bools and lists into memory cannot fail.
    value.serialize(&mut ser).expect("route JSON serializes");
}

struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let b = fragment.as_bytes();
        let mut done = 0;
        let mut i = 0;
        while i < b.len() {
            let (esc, len): (&[u8], usize) = match b[i] {
                b'<' => (b"\\u003c", 1),
                b'>' => (b"\\u003e", 1),
                b'&' => (b"\\u0026", 1),
                0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA8) => {
                    (b"\\u2028", 3)
                }
                0xE2 if b.get(i + 1) == Some(&0x80) && b.get(i + 2) == Some(&0xA9) => {
                    (b"\\u2029", 3)
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            w.write_all(&b[done..i])?;
            w.write_all(esc)?;
            i += len;
            done = i;
        }
        w.write_all(&b[done..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape::*;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let control = |c: u8| {
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]
        };
        match escape {
            Quote => w.write_all(b"\\\""),
            ReverseSolidus => w.write_all(b"\\\\"),
            Solidus => w.write_all(b"\\/"),
            LineFeed => w.write_all(b"\\n"),
            CarriageReturn => w.write_all(b"\\r"),
            Tab => w.write_all(b"\\t"),
            Backspace => w.write_all(&control(0x08)),
            FormFeed => w.write_all(&control(0x0c)),
            AsciiControl(c) => w.write_all(&control(c)),
        }
    }
}

// ---------------------------------------------------------------------------
// Route INFO / CONNECT JSON.

fn is_false(b: &bool) -> bool {
    !*b
}

/// Subject allow/deny lists of a route's `import`/`export` permissions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SubjectPermission {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The INFO exchanged on route connections.
///
/// Field names, order and omission rules are those of nats-server 2.9.10
/// (captured: see the module docs); with [`write_route_info`] the line is
/// byte-identical to nats-server's for the same values. Unknown fields are
/// ignored on input ([`parse_route_info`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RouteInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    /// Route protocol version: 2 (accounts) in 2.9.
    pub proto: i32,
    /// Omitted by builds without a commit id (like the probed 2.9.10).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// Runtime version (nats-server: `go1.19.8`).
    pub go: String,
    /// Route listen host and port.
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: i32,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// Route URL of the server described, `nats-route://host:port/`: set in
    /// gossip INFOs (and by servers with `cluster.advertise`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Fresh per connection in the first INFO; cleared in gossip and LDM INFOs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Cluster name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The cluster name was generated, not configured (it may be adopted
    /// from a peer).
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// JetStream domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// This server's client URLs, `host:port` each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// This server's WebSocket client URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    /// Lame duck mode: peers drop this server's client URLs.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Route `permissions.import` (subjects this server accepts from routes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    /// Route `permissions.export` (subjects it sends interest for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
    /// Understands leafnode origin clusters (`LS+ <origin> …`, `LMSG`).
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// Gateway name (only in gateway INFOs relayed over routes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// This server's gateway URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway_url: String,
    /// This server's leafnode URL (one entry on routes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leafnode_urls: Vec<String>,
}

const INFO_FIELDS: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "proto",
    "git_commit",
    "go",
    "host",
    "port",
    "headers",
    "auth_required",
    "tls_required",
    "tls_verify",
    "tls_available",
    "max_payload",
    "jetstream",
    "ip",
    "nonce",
    "cluster",
    "cluster_dynamic",
    "domain",
    "connect_urls",
    "ws_connect_urls",
    "ldm",
    "import",
    "export",
    "lnoc",
    "gateway",
    "gateway_url",
    "leafnode_urls",
];

/// Decodes a route INFO the way nats-server does (Go `encoding/json`: keys
/// case-insensitive, unknown keys ignored, `null` = default, wrong types are
/// errors). nats-server closes the route without `-ERR` when this fails.
pub fn parse_route_info(json: &[u8]) -> Result<RouteInfo, serde_json::Error> {
    super::decode_like_go(json, INFO_FIELDS)
}

/// The CONNECT a soliciting server sends first on a route.
///
/// Field order and omissions as captured from nats-server 2.9.10, e.g.
/// `{"echo":true,"verbose":false,"pedantic":false,"tls_required":false,
/// "headers":true,"name":"<server id>","cluster":"C1","lnoc":true}`, with
/// `"user"`/`"pass"` after `pedantic` when the route URL has credentials and
/// `"cluster_dynamic":true` after `cluster` when the name was generated.
/// Decoding ([`parse_route_connect`]) leaves missing fields false/empty
/// (nats-server does not default `verbose` to true on routes).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RouteConnect {
    pub echo: bool,
    pub verbose: bool,
    pub pedantic: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    pub tls_required: bool,
    pub headers: bool,
    /// The soliciting server's id (not its name).
    pub name: String,
    /// Cluster name; must equal the accepting server's.
    pub cluster: String,
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

const CONNECT_FIELDS: &[&str] = &[
    "echo",
    "verbose",
    "pedantic",
    "user",
    "pass",
    "tls_required",
    "headers",
    "name",
    "cluster",
    "cluster_dynamic",
    "lnoc",
    "gateway",
];

/// Decodes a route CONNECT like nats-server (see [`parse_route_info`]); on
/// failure it closes the route without `-ERR`.
pub fn parse_route_connect(json: &[u8]) -> Result<RouteConnect, serde_json::Error> {
    super::decode_like_go(json, CONNECT_FIELDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
    };

    fn small() -> Limits {
        Limits {
            max_control_line: 100,
            max_payload: 1000,
        }
    }

    fn one(input: &[u8]) -> RouteOp<'_> {
        match parse(input, &L) {
            Ok(Parsed::Op { op, consumed }) => {
                assert_eq!(consumed, input.len(), "consumed for {input:?}");
                op
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn err(input: &[u8], limits: &Limits) -> RouteParseError {
        match parse(input, limits) {
            Err(e) => e,
            other => panic!(
                "{:?}: expected error, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    fn incomplete(input: &[u8]) -> Option<usize> {
        match parse(input, &L) {
            Ok(Parsed::Incomplete { need }) => need,
            other => panic!(
                "{:?}: expected Incomplete, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    fn names(q: Queues<'_>) -> Vec<&[u8]> {
        q.iter().collect()
    }

    fn msg<'a>(
        account: &'a [u8],
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        queues: &'a [u8],
        payload: &'a [u8],
    ) -> RouteOp<'a> {
        RouteOp::Msg {
            origin: None,
            account,
            subject,
            reply,
            queues: Queues::from_raw(queues),
            headers: None,
            payload,
        }
    }

    #[test]
    fn rmsg_forms() {
        assert_eq!(
            one(b"RMSG $G foo 5\r\nhello\r\n"),
            msg(b"$G", b"foo", None, b"", b"hello")
        );
        assert_eq!(
            one(b"RMSG $G foo rep 5\r\nhello\r\n"),
            msg(b"$G", b"foo", Some(b"rep"), b"", b"hello")
        );
        assert_eq!(
            one(b"RMSG $G foo 0\r\n\r\n"),
            msg(b"$G", b"foo", None, b"", b"")
        );
        assert_eq!(
            one(b"RMSG $G qq | g1 g2 5\r\nhello\r\n"),
            msg(b"$G", b"qq", None, b"g1 g2", b"hello")
        );
        assert_eq!(
            one(b"RMSG $G qq + rep g1 g2 5\r\nhello\r\n"),
            msg(b"$G", b"qq", Some(b"rep"), b"g1 g2", b"hello")
        );
        // `+ reply` without queue names: just a reply (nats-server agrees).
        assert_eq!(
            one(b"RMSG $G qq + rep 5\r\nhello\r\n"),
            msg(b"$G", b"qq", Some(b"rep"), b"", b"hello")
        );
        // With four arguments the third is the reply, `|` and `+` included.
        assert_eq!(
            one(b"RMSG $G qq | 5\r\nhello\r\n"),
            msg(b"$G", b"qq", Some(b"|"), b"", b"hello")
        );
        assert_eq!(
            one(b"RMSG $G qq + 5\r\nhello\r\n"),
            msg(b"$G", b"qq", Some(b"+"), b"", b"hello")
        );
        // Case, tabs, runs of blanks, bare LF, trailing blanks, stray CR.
        for input in [
            &b"rmsg\t$G  \tqq | \t g1   g2 5 \r\nhello\r\n"[..],
            b"Rmsg $G qq | g1 g2 5\nhello\r\n",
            b"RMSG $G qq | g1\rg2 5\r\r\nhello\r\n",
            b"RMSG $G qq | g1 g2 000000005\r\nhello\r\n",
        ] {
            let op = one(input);
            assert_eq!(op, msg(b"$G", b"qq", None, b"g1 g2", b"hello"), "{input:?}");
            let RouteOp::Msg { queues, .. } = op else {
                unreachable!()
            };
            assert_eq!(names(queues), vec![&b"g1"[..], b"g2"]);
        }
        // Many queue groups.
        let mut many = b"RMSG A s |".to_vec();
        for i in 0..300 {
            many.extend(format!(" q{i}").bytes());
        }
        many.extend(b" 1\r\nx\r\n");
        let RouteOp::Msg { queues, .. } = one(&many) else {
            panic!()
        };
        assert_eq!(queues.len(), 300);
        assert!(queues.contains(b"q299"));
        assert!(!queues.contains(b"q300"));
        // Payload bytes are opaque.
        assert_eq!(
            one(b"RMSG a b 6\r\nPING\r\n\r\n"),
            msg(b"a", b"b", None, b"", b"PING\r\n")
        );
    }

    #[test]
    fn hmsg_and_lmsg_forms() {
        let h = b"NATS/1.0\r\nA: b\r\n\r\n";
        let mut input = b"HMSG $G foo rep 18 23\r\n".to_vec();
        input.extend(h);
        input.extend(b"hello\r\n");
        assert_eq!(
            one(&input),
            RouteOp::Msg {
                origin: None,
                account: b"$G",
                subject: b"foo",
                reply: Some(b"rep"),
                queues: Queues::EMPTY,
                headers: Some(h),
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"hmsg $G qq + rep g1 g2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"),
            RouteOp::Msg {
                origin: None,
                account: b"$G",
                subject: b"qq",
                reply: Some(b"rep"),
                queues: Queues::from_raw(b"g1 g2"),
                headers: Some(b"NATS/1.0\r\n\r\n"),
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"HMSG $G qq | g2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"),
            RouteOp::Msg {
                origin: None,
                account: b"$G",
                subject: b"qq",
                reply: None,
                queues: Queues::from_raw(b"g2"),
                headers: Some(b"NATS/1.0\r\n\r\n"),
                payload: b"hello"
            }
        );
        // hdr_len 0: empty header block (deliver as a plain message).
        assert_eq!(
            one(b"HMSG $G foo 0 5\r\nhello\r\n"),
            RouteOp::Msg {
                origin: None,
                account: b"$G",
                subject: b"foo",
                reply: None,
                queues: Queues::EMPTY,
                headers: Some(b""),
                payload: b"hello"
            }
        );
        // Five HMSG arguments: the third is the reply whatever it is.
        assert!(matches!(
            one(b"HMSG $G foo x 0 5\r\nhello\r\n"),
            RouteOp::Msg {
                reply: Some(b"x"),
                ..
            }
        ));
        assert_eq!(
            one(b"LMSG LC $G rq + rep g1 0 5\r\nhello\r\n"),
            RouteOp::Msg {
                origin: Some(b"LC"),
                account: b"$G",
                subject: b"rq",
                reply: Some(b"rep"),
                queues: Queues::from_raw(b"g1"),
                headers: Some(b""),
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"lmsg LC $G rfoo rep 0 5\r\nhello\r\n"),
            RouteOp::Msg {
                origin: Some(b"LC"),
                account: b"$G",
                subject: b"rfoo",
                reply: Some(b"rep"),
                queues: Queues::EMPTY,
                headers: Some(b""),
                payload: b"hello"
            }
        );
        assert!(matches!(
            one(b"LMSG O $G foo | q 0 5\r\nhello\r\n"),
            RouteOp::Msg { reply: None, queues, .. } if queues == Queues::from_raw(b"q")
        ));
    }

    #[test]
    fn msg_errors() {
        use RouteArgOp::*;
        let count = |op| RouteParseError::ArgCount { op };
        let size = |op| RouteParseError::BadSize { op };
        let ind = |op| RouteParseError::BadReplyIndicator { op };
        for (input, want) in [
            (&b"RMSG $G\r\n"[..], count(RMsg)),
            (b"RMSG \r\n", count(RMsg)),
            (b"RMSG $G foo\r5\nhello\r\n", count(RMsg)),
            (b"RMSG $G foo x\r\n", size(RMsg)),
            (b"RMSG $G foo -1\r\n", size(RMsg)),
            (b"RMSG $G foo 0000000005\r\n", size(RMsg)),
            (b"RMSG $G foo 1000000000\r\n", size(RMsg)),
            (b"RMSG $G foo + rep q1\r\n", size(RMsg)),
            (b"RMSG $G foo a b 5\r\n", ind(RMsg)),
            (b"RMSG $G foo ++ rep 5\r\n", ind(RMsg)),
            (b"HMSG $G foo 5\r\n", count(HMsg)),
            (b"HMSG $G foo | q 12\r\n", size(HMsg)),
            (b"HMSG $G foo x y 0 5\r\n", ind(HMsg)),
            (b"HMSG $G foo 0 1000000000\r\n", size(HMsg)),
            (b"LMSG O $G foo 5\r\n", count(LMsg)),
            (b"LMSG O $G foo x y 0 5\r\n", ind(LMsg)),
            (
                b"HMSG $G foo 20 10\r\n",
                RouteParseError::HeaderSizeTooLarge {
                    op: HMsg,
                    hdr: 20,
                    total: 10,
                },
            ),
            (
                b"RMSG $G foo 5\r\nhelloXX\r\n",
                RouteParseError::BadPayloadEnd,
            ),
            (b"RMSG $G foo 5\r\nhello\n", RouteParseError::BadPayloadEnd),
            (b"RMSG $G foo 5\r\nhello\rX", RouteParseError::BadPayloadEnd),
        ] {
            let e = err(input, &L);
            assert_eq!(e, want, "{:?}", String::from_utf8_lossy(input));
            let silent = !matches!(want, RouteParseError::BadPayloadEnd);
            assert_eq!(e.err_text().is_none(), silent);
        }
        assert_eq!(
            RouteParseError::BadPayloadEnd.err_text(),
            Some("Unknown Protocol Operation")
        );
    }

    #[test]
    fn incomplete_and_need() {
        assert_eq!(incomplete(b""), None);
        assert_eq!(incomplete(b"R"), None);
        assert_eq!(incomplete(b"RM"), None);
        assert_eq!(incomplete(b"RMSG"), None);
        assert_eq!(incomplete(b"RMSG "), None);
        assert_eq!(incomplete(b"RMSG $G foo 5"), None);
        assert_eq!(incomplete(b"RMSG $G foo 5\r"), None);
        let line = b"RMSG $G foo 5\r\n".len();
        assert_eq!(incomplete(b"RMSG $G foo 5\r\n"), Some(line + 7));
        assert_eq!(incomplete(b"RMSG $G foo 5\r\nhello"), Some(line + 7));
        assert_eq!(incomplete(b"RMSG $G foo 5\r\nhello\r"), Some(line + 7));
        assert_eq!(incomplete(b"HMSG $G f 12 14\r\nNATS"), Some(17 + 16));
        assert_eq!(incomplete(b"LMSG o a s 0 1\r\n"), Some(16 + 3));
        for p in [
            &b"RS"[..],
            b"RS+",
            b"RS+ ",
            b"RS+ $G foo",
            b"LS",
            b"LS-",
            b"A",
            b"PIN",
        ] {
            assert_eq!(incomplete(p), None, "{p:?}");
        }
        // One op at a time.
        let buf = b"RS+ $G a\r\nRMSG $G a 1\r\nx\r\nPING\r\n";
        let Ok(Parsed::Op { op, consumed }) = parse(buf, &L) else {
            panic!()
        };
        assert_eq!(
            op,
            RouteOp::Sub {
                account: b"$G",
                subject: b"a",
                queue: None
            }
        );
        assert_eq!(consumed, 10);
        let Ok(Parsed::Op { consumed: c2, .. }) = parse(&buf[10..], &L) else {
            panic!()
        };
        assert_eq!(c2, 16);
        assert_eq!(
            parse(&buf[26..], &L),
            Ok(Parsed::Op {
                op: RouteOp::Ping,
                consumed: 6
            })
        );
    }

    #[test]
    fn interest_ops() {
        assert_eq!(
            one(b"RS+ $G foo\r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            one(b"rs+\t$G  bar \t q1 2 \r\n"),
            RouteOp::Sub {
                account: b"$G",
                subject: b"bar",
                queue: Some((b"q1", 2))
            }
        );
        // Weights nats-server accepts but can never use read as 0.
        for w in [&b"0"[..], b"x", b"-1", b"99999999999"] {
            let mut v = b"RS+ $G foo q ".to_vec();
            v.extend(w);
            v.extend(b"\r\n");
            assert_eq!(
                one(&v),
                RouteOp::Sub {
                    account: b"$G",
                    subject: b"foo",
                    queue: Some((b"q", 0))
                }
            );
        }
        assert!(matches!(
            one(b"RS+ $G foo q 007\r\n"),
            RouteOp::Sub {
                queue: Some((b"q", 7)),
                ..
            }
        ));
        // A stray CR splits and eats the byte before LF, like nats-server.
        assert!(matches!(
            one(b"RS+ $G cr1\rx\n"),
            RouteOp::Sub {
                subject: b"cr1",
                queue: None,
                ..
            }
        ));
        assert_eq!(
            one(b"RS- $G foo\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            one(b"RS- $G bar q1\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"bar",
                queue: Some(b"q1")
            }
        );
        // UNSUB on a route is RS- (same handler in nats-server).
        assert_eq!(
            one(b"UNSUB $G baz\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"baz",
                queue: None
            }
        );
        assert_eq!(
            one(b"LS+ LC $G lq grp 2\r\n"),
            RouteOp::LeafSub {
                origin: b"LC",
                account: b"$G",
                subject: b"lq",
                queue: Some((b"grp", 2))
            }
        );
        assert_eq!(
            one(b"ls+ LC $G lfoo\r\n"),
            RouteOp::LeafSub {
                origin: b"LC",
                account: b"$G",
                subject: b"lfoo",
                queue: None
            }
        );
        // nats-server's own LS- has two spaces.
        assert_eq!(
            one(b"LS-  $G lq grp\r\n"),
            RouteOp::LeafUnsub {
                account: b"$G",
                subject: b"lq",
                queue: Some(b"grp")
            }
        );
        use RouteArgOp::*;
        for (input, op) in [
            (&b"RS+ $G\r\n"[..], RsPlus),
            (b"RS+ \r\n", RsPlus),
            (b"RS+ $G foo q\r\n", RsPlus),
            (b"RS+ $G foo q 1 extra\r\n", RsPlus),
            (b"RS- $G\r\n", RsMinus),
            (b"RS- $G foo q extra\r\n", RsMinus),
            (b"LS+ $G foo\r\n", LsPlus),
            (b"LS+ O $G foo q\r\n", LsPlus),
            (b"LS- $G foo q x\r\n", LsMinus),
            (b"UNSUB 1\r\n", Unsub),
        ] {
            let e = err(input, &L);
            assert_eq!(e, RouteParseError::ArgCount { op }, "{input:?}");
            assert_eq!(e.err_text(), None);
        }
    }

    #[test]
    fn control_ops() {
        for (input, want) in [
            (&b"PING\r\n"[..], RouteOp::Ping),
            (b"ping\n", RouteOp::Ping),
            (b"PINGX\r\n", RouteOp::Ping),
            (b"PONG\r\n", RouteOp::Pong),
            (b"PONGjunk\r\n", RouteOp::Pong),
            (b"+OK\r\n", RouteOp::Ok),
            (b"+okjunk\r\n", RouteOp::Ok),
            (b"-ERR 'boom'\r\n", RouteOp::Err(b"'boom'")),
            (b"INFO {}\r\n", RouteOp::Info(b"{}")),
            (b"INFO{\"a\":1} \r\n", RouteOp::Info(b"{\"a\":1} ")),
            (b"CONNECT {}\r\n", RouteOp::Connect(b"{}")),
            (b"connect\r\n", RouteOp::Connect(b"")),
            (b"SUB foo 1\r\n", RouteOp::Ignored(IgnoredOp::Sub)),
            (b"SUB \r\n", RouteOp::Ignored(IgnoredOp::Sub)),
            (b"PUB foo 1\r\nx\r\n", RouteOp::Ignored(IgnoredOp::Pub)),
            (b"PUB foo r 0\r\n\r\n", RouteOp::Ignored(IgnoredOp::Pub)),
            (
                b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
                RouteOp::Ignored(IgnoredOp::HPub),
            ),
            (b"A+ foo\r\n", RouteOp::Ignored(IgnoredOp::AccountSub)),
            (b"a+\tfoo\r\n", RouteOp::Ignored(IgnoredOp::AccountSub)),
            (b"A- foo\r\n", RouteOp::Ignored(IgnoredOp::AccountUnsub)),
            (b"Au foo\r\n", RouteOp::Ignored(IgnoredOp::AccountUnsub)),
        ] {
            assert_eq!(one(input), want, "{input:?}");
        }
        assert_eq!(
            err(b"PUB foo\r\n", &L),
            RouteParseError::ArgCount {
                op: RouteArgOp::Pub
            }
        );
        assert_eq!(
            err(b"PUB foo x\r\n", &L),
            RouteParseError::BadSize {
                op: RouteArgOp::Pub
            }
        );
        assert_eq!(
            err(b"HPUB foo 2 1\r\n", &L),
            RouteParseError::HeaderSizeTooLarge {
                op: RouteArgOp::HPub,
                hdr: 2,
                total: 1
            }
        );
    }

    #[test]
    fn unknown_ops() {
        for input in [
            &b"FOO\r\n"[..],
            b"MSG foo 1 1\r\nx\r\n",
            b"M",
            b"RMSG\r\n",
            b"RMSGX",
            b"RS+\r\n",
            b"RS-\r\n",
            b"RS* $G foo\r\n",
            b"RSX",
            b"RS+X",
            b"R+",
            b"LX",
            b"LS*",
            b"SUB\r\n",
            b"-ERR\r\n",
            b"-X",
            b" PING\r\n",
            b"\r\nPING\r\n",
            b"AU foo\r\n",
            b"A* foo\r\n",
            b"HX",
            b"RS\x0b $G foo\r\n",
            b"R\x0dSG",
        ] {
            let e = err(input, &L);
            assert_eq!(e, RouteParseError::UnknownOp, "{input:?}");
            assert_eq!(e.err_text(), Some("Unknown Protocol Operation"));
        }
    }

    #[test]
    fn limits() {
        let l = small();
        // Arguments of exactly the limit pass; one more fails, complete or not.
        let mut ok = b"RS+ $G ".to_vec();
        ok.extend(vec![b'a'; 97]);
        assert_eq!(parse(&ok, &l), Ok(INCOMPLETE));
        ok.extend(b"\r");
        assert_eq!(parse(&ok, &l), Ok(INCOMPLETE));
        ok.extend(b"\n");
        assert!(matches!(parse(&ok, &l), Ok(Parsed::Op { .. })));
        let mut bad = b"RS+ $G ".to_vec();
        bad.extend(vec![b'a'; 98]);
        assert_eq!(err(&bad, &l), RouteParseError::MaxControlLine);
        bad.extend(b"\r\n");
        assert_eq!(err(&bad, &l), RouteParseError::MaxControlLine);
        // A stray CR shortens the final line by one: no early verdict.
        let mut cr = b"RS+ $G ".to_vec();
        cr.extend(vec![b'a'; 96]);
        cr.extend(b"\rb");
        assert_eq!(parse(&cr, &l), Ok(INCOMPLETE));
        cr.extend(b"\n");
        assert!(matches!(parse(&cr, &l), Ok(Parsed::Op { .. })));
        // Unterminated filler is bounded.
        let mut ping = b"PING".to_vec();
        ping.extend(vec![b'x'; 101]);
        assert_eq!(err(&ping, &l), RouteParseError::MaxControlLine);
        let mut blanks = b"RMSG".to_vec();
        blanks.extend(vec![b' '; 102]);
        assert_eq!(err(&blanks, &l), RouteParseError::MaxControlLine);
        // Body size is checked on the control line, before the body.
        assert_eq!(
            parse(b"RMSG a b 1000\r\n", &l),
            Ok(Parsed::Incomplete {
                need: Some(15 + 1002)
            })
        );
        let e = err(b"RMSG a b 1001\r\n", &l);
        assert_eq!(
            e,
            RouteParseError::MaxPayload {
                size: 1001,
                max: 1000
            }
        );
        assert_eq!(e.err_text(), Some("Maximum Payload Violation"));
        assert_eq!(
            err(b"HMSG a b 0 1001\r\n", &l),
            RouteParseError::MaxPayload {
                size: 1001,
                max: 1000
            }
        );
        assert_eq!(
            err(b"PUB a 1001\r\n", &l),
            RouteParseError::MaxPayload {
                size: 1001,
                max: 1000
            }
        );
        assert_eq!(
            RouteParseError::MaxControlLine.err_text(),
            Some("maximum control line exceeded")
        );
        // The suggested route limits take what nats-server sends.
        let mut long = b"RS+ $G ".to_vec();
        long.extend(vec![b'a'; 10_000]);
        long.extend(b"\r\n");
        assert!(matches!(parse(&long, &ROUTE_LIMITS), Ok(Parsed::Op { .. })));
    }

    #[test]
    fn queues_helpers() {
        let q = Queues::from_raw(b" \ta  b\rc ");
        assert_eq!(names(q), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(q.len(), 3);
        assert!(!q.is_empty());
        assert!(Queues::from_raw(b"  ").is_empty());
        assert_eq!(Queues::EMPTY.len(), 0);
        assert_eq!(q, Queues::from_raw(b"a b c"));
        assert_ne!(q, Queues::from_raw(b"a b"));
        assert_eq!(format!("{q:?}"), r#"["a", "b", "c"]"#);
        assert_eq!(q.into_iter().count(), 3);
    }

    fn bytes(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn writers() {
        assert_eq!(
            bytes(|b| write_rs_plus(b, b"$G", b"foo", None)),
            b"RS+ $G foo\r\n"
        );
        assert_eq!(
            bytes(|b| write_rs_plus(b, b"$G", b"bar", Some((b"q1", 2)))),
            b"RS+ $G bar q1 2\r\n"
        );
        assert_eq!(
            bytes(|b| write_rs_minus(b, b"$G", b"bar", Some(b"q1"))),
            b"RS- $G bar q1\r\n"
        );
        assert_eq!(
            bytes(|b| write_rs_minus(b, b"ACC", b"x", None)),
            b"RS- ACC x\r\n"
        );
        assert_eq!(
            bytes(|b| write_ls_plus(b, b"LC", b"$G", b"lq", Some((b"grp", 1)))),
            b"LS+ LC $G lq grp 1\r\n"
        );
        assert_eq!(
            bytes(|b| write_ls_minus(b, b"$G", b"lq", Some(b"grp"))),
            b"LS- $G lq grp\r\n"
        );
        assert_eq!(
            bytes(|b| write_rmsg(b, b"$G", b"foo", None, &[], b"hello")),
            b"RMSG $G foo 5\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|b| write_rmsg(b, b"$G", b"foo", Some(b"rep"), &[], b"")),
            b"RMSG $G foo rep 0\r\n\r\n"
        );
        assert_eq!(
            bytes(|b| write_rmsg(b, b"$G", b"qq", None, &[b"g1", b"g2"], b"hello")),
            b"RMSG $G qq | g1 g2 5\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|b| write_rmsg(b, b"$G", b"qq", Some(b"rep"), &[b"g1"], b"hello")),
            b"RMSG $G qq + rep g1 5\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|b| write_rhmsg(
                b,
                b"$G",
                b"qq",
                Some(b"rep"),
                &[b"g1", b"g2"],
                b"NATS/1.0\r\n\r\n",
                b"hello"
            )),
            b"HMSG $G qq + rep g1 g2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|b| write_rhmsg(b, b"$G", b"foo", None, &[], b"NATS/1.0\r\n\r\n", b"")),
            b"HMSG $G foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"
        );
        assert_eq!(
            bytes(|b| write_lmsg(b, b"LC", b"$G", b"rq", None, &[b"g1"], b"", b"hello")),
            b"LMSG LC $G rq | g1 0 5\r\nhello\r\n"
        );
        assert_eq!(
            bytes(|b| write_lmsg(b, b"LC", b"$G", b"r", Some(b"x"), &[], b"", b"")),
            b"LMSG LC $G r x 0 0\r\n\r\n"
        );
    }

    #[test]
    fn go_json_escaping() {
        let info = RouteInfo {
            server_id: "<&>\u{2028}\u{2029}\u{8}\u{c}\u{1}\n\"\\/é".into(),
            ..RouteInfo::default()
        };
        let line = bytes(|b| write_route_info(b, &info));
        let want = concat!(
            r#"INFO {"server_id":"\u003c\u0026\u003e\u2028\u2029\u0008\u000c\u0001\n\"\\/é","#,
            r#""server_name":"","version":"","proto":0,"go":"","host":"","port":0,"#,
            r#""headers":false,"max_payload":0} "#,
            "\r\n"
        );
        assert_eq!(String::from_utf8(line).unwrap(), want);
        assert_eq!(
            parse_route_info(&want.as_bytes()[5..want.len() - 3]).unwrap(),
            info
        );
    }

    #[test]
    fn info_and_connect_json() {
        let info = parse_route_info(
            br#"{"SERVER_ID":"N1","port":4248,"ip":"nats-route://h:1/","ldm":true,"unknown":[1],"nonce":null,"import":{"allow":["a"]}}"#,
        )
        .unwrap();
        assert_eq!(info.server_id, "N1");
        assert_eq!(info.port, 4248);
        assert_eq!(info.ip, "nats-route://h:1/");
        assert!(info.ldm);
        assert_eq!(
            info.import,
            Some(SubjectPermission {
                allow: vec!["a".into()],
                deny: vec![]
            })
        );
        assert!(parse_route_info(b"{nope").is_err());
        assert!(parse_route_info(br#"{"port":"x"}"#).is_err());
        assert_eq!(parse_route_info(b"null").unwrap(), RouteInfo::default());

        let c = parse_route_connect(br#"{"Cluster":"C1","VERBOSE":true,"extra":1}"#).unwrap();
        assert_eq!(c.cluster, "C1");
        assert!(c.verbose);
        assert!(!c.echo && !c.headers && !c.lnoc);
        assert!(parse_route_connect(b"").is_err());

        let connect = RouteConnect {
            echo: true,
            user: "ruser".into(),
            pass: "rp@ss".into(),
            headers: true,
            name: "NID".into(),
            cluster: "C1".into(),
            cluster_dynamic: true,
            lnoc: true,
            ..RouteConnect::default()
        };
        assert_eq!(
            bytes(|b| write_route_connect(b, &connect)),
            concat!(
                r#"CONNECT {"echo":true,"verbose":false,"pedantic":false,"user":"ruser","pass":"rp@ss","#,
                r#""tls_required":false,"headers":true,"name":"NID","cluster":"C1","cluster_dynamic":true,"lnoc":true}"#,
                "\r\n"
            )
            .as_bytes()
        );
        let gossip = bytes(|b| write_gossip_info(b, &RouteInfo::default()));
        assert!(gossip.ends_with(b"}\r\n"));
    }
}
