//! The NATS client protocol: a pure, stateless parser for what clients send and
//! the writers for what the server sends back.
//!
//! # Why stateless
//! The connection's I/O layer keeps one read buffer and calls [`parse`] on the
//! unconsumed bytes until it answers [`Parsed::Incomplete`]; then it reads more
//! and calls again with the grown buffer. Because the parser never remembers
//! anything between calls, any split of the byte stream across reads gives the
//! same ops: correctness under fragmentation holds by construction, and the
//! parser can be fuzzed with plain byte slices. Ops borrow from the buffer, so
//! parsing allocates nothing.
//!
//! # Compatibility
//! Every accept/reject decision below mirrors nats-server 2.9.10 as observed on
//! the wire (see the probe table in the issue notes):
//! - op names are case-insensitive and must start at the first byte of a line
//!   (a leading space, tab or empty line is an unknown op);
//! - a byte that cannot continue any known op name fails at once, without
//!   waiting for the end of the line;
//! - a line ends at LF; one CR right before it is dropped, so a bare LF also ends
//!   a line, but a payload must be followed by exactly CRLF;
//! - `PING`, `PONG` and `+OK` ignore anything after the name up to the LF;
//! - `PUB`, `HPUB`, `SUB`, `UNSUB`, `-ERR` need a space or tab after the name,
//!   `CONNECT` and `INFO` do not;
//! - the arguments (from their first non-blank byte to the line end, CR
//!   excluded) may be at most `max_control_line` bytes, whether or not the line
//!   is complete yet;
//! - a too-large PUB/HPUB is refused as soon as its control line is complete,
//!   before any payload arrives; exactly `max_payload` is allowed.

use bytes::{BufMut, BytesMut};
use memchr::memchr;

use super::info::ServerInfo;
use super::lex::{self, is_blank, parse_size, split};

/// `-ERR` text for syntax errors; nats-server closes the connection after it.
pub const ERR_UNKNOWN_OP: &str = "Unknown Protocol Operation";
/// `-ERR` text for a PUB/HPUB larger than `max_payload`; the connection is closed.
pub const ERR_MAX_PAYLOAD: &str = "Maximum Payload Violation";
/// `-ERR` text for over-long control lines (lower case in nats-server too).
pub const ERR_MAX_CONTROL_LINE: &str = "maximum control line exceeded";

/// Reply to a client's `PING`, and the server's keep-alive probe's answer.
pub const PONG: &[u8] = b"PONG\r\n";
/// The server's keep-alive probe.
pub const PING: &[u8] = b"PING\r\n";
/// Acknowledgement sent after each op to clients that asked for `verbose`.
pub const OK: &[u8] = b"+OK\r\n";
/// Header block of the status message nats-server 2.9 sends to a requester that
/// enabled `headers` and `no_responders` when its request matched no subscriber
/// (delivered as `HMSG <reply> <sid> 16 16`, no payload).
pub const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// Per-connection limits the parser enforces; they come from server options and
/// may be narrowed per account or user, which is why they are passed per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest argument part of a control line (nats-server default 4096).
    pub max_control_line: usize,
    /// Largest PUB payload / HPUB total size (nats-server default 1 MiB).
    pub max_payload: usize,
}

impl Default for Limits {
    /// nats-server's defaults, so tests and tools need not repeat them.
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    }
}

/// One complete op sent by a client; every slice borrows from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// Raw JSON text after `CONNECT` (blanks before it skipped, CR dropped);
    /// decode it with [`super::connect::parse_connect`].
    Connect(&'a [u8]),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    /// `HPUB <subject> [reply] <hdr_len> <total_len>`: `headers` is the first
    /// `hdr_len` bytes of the body, `payload` the rest. The header block is not
    /// validated (nats-server relays a block not starting `NATS/1.0` as is), and
    /// nats-server delivers an HPUB with `hdr_len` 0 as a plain `MSG`.
    HPub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        headers: &'a [u8],
        payload: &'a [u8],
    },
    /// `SUB <subject> [queue] <sid>`; subject and queue are not validated here
    /// (nats-server answers an invalid one with a non-closing `Invalid Subject`).
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`. `max` is `None` when absent *or* not 1–9 ASCII
    /// digits: nats-server then unsubscribes at once, as it does for `0` or a
    /// max not above the count already delivered.
    Unsub { sid: &'a [u8], max: Option<u64> },
    /// `PING` (anything up to the LF is ignored, as nats-server does).
    Ping,
    /// `PONG` (anything up to the LF is ignored).
    Pong,
    /// `INFO <json>` from a client. nats-server decodes it (closing silently if
    /// that fails, see [`super::info::parse_info`]) and otherwise ignores it.
    Info(&'a [u8]),
    /// `+OK` from a client; nats-server ignores it.
    Ok,
    /// `-ERR <text>` from a client (raw text, quotes included); nats-server
    /// closes the connection without replying.
    Err(&'a [u8]),
}

/// Result of one [`parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole op; the caller drops `consumed` bytes from the buffer front.
    Op { op: ClientOp<'a>, consumed: usize },
    /// The buffer ends inside an op. `need` is the total number of bytes the op
    /// occupies once its control line is known (control line + payload + CRLF),
    /// so the caller can reserve capacity in one step; `None` while the control
    /// line itself is unfinished.
    Incomplete { need: Option<usize> },
}

/// Which op a [`ParseError`] about arguments refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgOp {
    Pub,
    HPub,
    Sub,
    Unsub,
}

impl std::fmt::Display for ArgOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArgOp::Pub => "PUB",
            ArgOp::HPub => "HPUB",
            ArgOp::Sub => "SUB",
            ArgOp::Unsub => "UNSUB",
        })
    }
}

/// Why a byte stream is not valid client protocol. Every variant ends the
/// connection; [`ParseError::err_text`] says whether an `-ERR` goes first.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ParseError {
    /// A byte that cannot start or continue a known op (including a leading
    /// blank, an empty line, `MSG`/`HMSG` or route ops from a client).
    #[error("unknown protocol operation")]
    UnknownOp,
    /// The arguments of a control line exceed `max_control_line` (also used when
    /// blanks or ignored text pile up past it without a line end).
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// A PUB/HPUB announced more than `max_payload` bytes.
    #[error("maximum payload exceeded: {size} > {max}")]
    MaxPayload { size: usize, max: usize },
    /// Wrong number of arguments.
    #[error("{op}: wrong number of arguments")]
    ArgCount { op: ArgOp },
    /// A size is not 1–9 ASCII digits.
    #[error("{op}: bad or missing size")]
    BadSize { op: ArgOp },
    /// HPUB header length larger than its total length.
    #[error("HPUB: header size {hdr} larger than total size {total}")]
    HeaderSizeTooLarge { hdr: usize, total: usize },
    /// The payload is not followed by CRLF.
    #[error("message payload not followed by CRLF")]
    BadPayloadEnd,
}

impl ParseError {
    /// The exact text nats-server 2.9 sends as `-ERR '<text>'` before closing,
    /// or `None` where it closes without a word (argument errors).
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOp | ParseError::BadPayloadEnd => Some(ERR_UNKNOWN_OP),
            ParseError::MaxControlLine => Some(ERR_MAX_CONTROL_LINE),
            ParseError::MaxPayload { .. } => Some(ERR_MAX_PAYLOAD),
            ParseError::ArgCount { .. }
            | ParseError::BadSize { .. }
            | ParseError::HeaderSizeTooLarge { .. } => None,
        }
    }
}

/// Parses the first op in `buf`.
///
/// Returns [`Parsed::Op`] with the number of bytes it used, or
/// [`Parsed::Incomplete`] when more bytes are needed (an empty buffer included).
/// Errors are final: the connection must be closed (after `err_text`, if any).
#[inline]
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    // Hot path: "PUB " / "pub\t" ... checked with one comparison per byte.
    if buf.len() >= 4
        && buf[0] | 0x20 == b'p'
        && buf[1] | 0x20 == b'u'
        && buf[2] | 0x20 == b'b'
        && is_blank(buf[3])
    {
        return parse_pub(buf, limits);
    }
    parse_other(buf, limits)
}

/// The op names a client may send; the byte after the name decides the rest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Pub,
    HPub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
    HMsg,
}

const INCOMPLETE: Parsed<'static> = Parsed::Incomplete { need: None };

/// SUB and UNSUB arguments are also split at a stray CR (nats-server does so;
/// PUB and HPUB keep it inside the field).
#[inline(always)]
fn is_blank_or_cr(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

#[inline(never)]
fn parse_other<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let Some(&b0) = buf.first() else {
        return Ok(INCOMPLETE);
    };
    let (name, text): (Name, &[u8]) = match b0 {
        b'+' => (Name::Ok, b"+OK"),
        b'-' => (Name::Err, b"-ERR"),
        _ if !b0.is_ascii_alphabetic() => return Err(ParseError::UnknownOp),
        _ => match b0 | 0x20 {
            b'p' => match buf.get(1).map(|b| b | 0x20) {
                None => return Ok(INCOMPLETE),
                Some(b'u') => (Name::Pub, b"PUB"),
                Some(b'i') => (Name::Ping, b"PING"),
                Some(b'o') => (Name::Pong, b"PONG"),
                Some(_) => return Err(ParseError::UnknownOp),
            },
            b'h' => match buf.get(1).map(|b| b | 0x20) {
                None => return Ok(INCOMPLETE),
                Some(b'p') => (Name::HPub, b"HPUB"),
                Some(b'm') => (Name::HMsg, b"HMSG"),
                Some(_) => return Err(ParseError::UnknownOp),
            },
            b's' => (Name::Sub, b"SUB"),
            b'u' => (Name::Unsub, b"UNSUB"),
            b'c' => (Name::Connect, b"CONNECT"),
            b'i' => (Name::Info, b"INFO"),
            _ => return Err(ParseError::UnknownOp),
        },
    };
    // Name bytes after the first are letters; `| 0x20` folds case and maps no
    // non-letter byte onto a lower-case letter.
    for (i, &want) in text.iter().enumerate().skip(1) {
        match buf.get(i) {
            None => return Ok(INCOMPLETE),
            Some(&b) if b | 0x20 == want | 0x20 => {}
            Some(_) => return Err(ParseError::UnknownOp),
        }
    }
    let n = text.len();
    match name {
        Name::Ping | Name::Pong | Name::Ok => {
            let op = match name {
                Name::Ping => ClientOp::Ping,
                Name::Pong => ClientOp::Pong,
                _ => ClientOp::Ok,
            };
            match memchr(b'\n', &buf[n..]) {
                Some(i) => Ok(Parsed::Op {
                    op,
                    consumed: n + i + 1,
                }),
                // nats-server discards such text as it goes; we must keep it
                // buffered, so bound it like a control line.
                None if buf.len() - n > limits.max_control_line => Err(ParseError::MaxControlLine),
                None => Ok(INCOMPLETE),
            }
        }
        Name::Connect | Name::Info => {
            let Some((args, line_len)) = line(buf, n, limits)? else {
                return Ok(INCOMPLETE);
            };
            let op = if name == Name::Connect {
                ClientOp::Connect(args)
            } else {
                ClientOp::Info(args)
            };
            Ok(Parsed::Op {
                op,
                consumed: line_len,
            })
        }
        _ => {
            match buf.get(n) {
                None => return Ok(INCOMPLETE),
                Some(&b) if is_blank(b) => {}
                Some(_) => return Err(ParseError::UnknownOp),
            }
            match name {
                Name::Pub => parse_pub(buf, limits),
                Name::HPub => parse_hpub(buf, limits),
                Name::Sub => parse_sub(buf, limits),
                Name::Unsub => parse_unsub(buf, limits),
                Name::Err => Ok(match line(buf, n + 1, limits)? {
                    Some((args, consumed)) => Parsed::Op {
                        op: ClientOp::Err(args),
                        consumed,
                    },
                    None => INCOMPLETE,
                }),
                // HMSG is server-to-client only: nats-server reads the whole
                // line (limit included) and then rejects it.
                _ => match line(buf, n + 1, limits)? {
                    Some(_) => Err(ParseError::UnknownOp),
                    None => Ok(INCOMPLETE),
                },
            }
        }
    }
}

/// Finds the argument text of a control line whose op name (and its required
/// blank) ends before `from`. Returns the arguments (leading blanks skipped, the
/// CR before LF dropped) and the full line length including the LF, or `None`
/// when the line is not complete yet. Enforces `max_control_line` on the
/// arguments either way, as nats-server does.
#[inline(always)]
fn line<'a>(
    buf: &'a [u8],
    from: usize,
    limits: &Limits,
) -> Result<Option<(&'a [u8], usize)>, ParseError> {
    let mut start = from;
    while start < buf.len() && is_blank(buf[start]) {
        start += 1;
    }
    if start == buf.len() {
        // Only blanks so far. nats-server skips them without a bound; we must
        // keep them buffered, so they get the control-line bound.
        if buf.len() - from > limits.max_control_line {
            return Err(ParseError::MaxControlLine);
        }
        return Ok(None);
    }
    match memchr(b'\n', &buf[start..]) {
        Some(i) => {
            let lf = start + i;
            // nats-server drops one byte before the LF once it has seen a CR
            // anywhere in the arguments, so `SUB foo\r1\n` loses the `1`. Only
            // bare-LF lines pay for the scan.
            let end = if lf > start
                && (buf[lf - 1] == b'\r' || memchr(b'\r', &buf[start..lf]).is_some())
            {
                lf - 1
            } else {
                lf
            };
            if end - start > limits.max_control_line {
                return Err(ParseError::MaxControlLine);
            }
            Ok(Some((&buf[start..end], lf + 1)))
        }
        None => {
            let mut len = buf.len() - start;
            if buf[buf.len() - 1] == b'\r' {
                len -= 1;
            }
            if len > limits.max_control_line {
                return Err(ParseError::MaxControlLine);
            }
            Ok(None)
        }
    }
}

#[inline(always)]
fn body(buf: &[u8], start: usize, size: usize) -> Result<Option<&[u8]>, ParseError> {
    lex::body(buf, start, size).map_err(|_| ParseError::BadPayloadEnd)
}

/// `buf` starts with `PUB` and a blank (checked by the caller).
#[inline(always)]
fn parse_pub<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let Some((args, line_len)) = line(buf, 4, limits)? else {
        return Ok(INCOMPLETE);
    };
    let (subject, reply, size) = match split::<3>(args, is_blank) {
        Some((a, 2)) => (a[0], None, a[1]),
        Some((a, 3)) => (a[0], Some(a[1]), a[2]),
        _ => return Err(ParseError::ArgCount { op: ArgOp::Pub }),
    };
    let size = parse_size(size).ok_or(ParseError::BadSize { op: ArgOp::Pub })?;
    if size > limits.max_payload {
        return Err(ParseError::MaxPayload {
            size,
            max: limits.max_payload,
        });
    }
    match body(buf, line_len, size)? {
        Some(payload) => Ok(Parsed::Op {
            op: ClientOp::Pub {
                subject,
                reply,
                payload,
            },
            consumed: line_len + size + 2,
        }),
        None => Ok(Parsed::Incomplete {
            need: Some(line_len + size + 2),
        }),
    }
}

/// `buf` starts with `HPUB` and a blank.
fn parse_hpub<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let Some((args, line_len)) = line(buf, 5, limits)? else {
        return Ok(INCOMPLETE);
    };
    let (subject, reply, hdr, total) = match split::<4>(args, is_blank) {
        Some((a, 3)) => (a[0], None, a[1], a[2]),
        Some((a, 4)) => (a[0], Some(a[1]), a[2], a[3]),
        _ => return Err(ParseError::ArgCount { op: ArgOp::HPub }),
    };
    let bad = ParseError::BadSize { op: ArgOp::HPub };
    let hdr = parse_size(hdr).ok_or(bad.clone())?;
    let total = parse_size(total).ok_or(bad)?;
    if hdr > total {
        return Err(ParseError::HeaderSizeTooLarge { hdr, total });
    }
    if total > limits.max_payload {
        return Err(ParseError::MaxPayload {
            size: total,
            max: limits.max_payload,
        });
    }
    match body(buf, line_len, total)? {
        Some(b) => Ok(Parsed::Op {
            op: ClientOp::HPub {
                subject,
                reply,
                headers: &b[..hdr],
                payload: &b[hdr..],
            },
            consumed: line_len + total + 2,
        }),
        None => Ok(Parsed::Incomplete {
            need: Some(line_len + total + 2),
        }),
    }
}

/// `buf` starts with `SUB` and a blank.
fn parse_sub<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let Some((args, consumed)) = line(buf, 4, limits)? else {
        return Ok(INCOMPLETE);
    };
    let (subject, queue, sid) = match split::<3>(args, is_blank_or_cr) {
        Some((a, 2)) => (a[0], None, a[1]),
        Some((a, 3)) => (a[0], Some(a[1]), a[2]),
        _ => return Err(ParseError::ArgCount { op: ArgOp::Sub }),
    };
    Ok(Parsed::Op {
        op: ClientOp::Sub {
            subject,
            queue,
            sid,
        },
        consumed,
    })
}

/// `buf` starts with `UNSUB` and a blank.
fn parse_unsub<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let Some((args, consumed)) = line(buf, 6, limits)? else {
        return Ok(INCOMPLETE);
    };
    let (sid, max) = match split::<2>(args, is_blank_or_cr) {
        Some((a, 1)) => (a[0], None),
        Some((a, 2)) => (a[0], parse_size(a[1]).map(|m| m as u64)),
        _ => return Err(ParseError::ArgCount { op: ArgOp::Unsub }),
    };
    Ok(Parsed::Op {
        op: ClientOp::Unsub { sid, max },
        consumed,
    })
}

// ---------------------------------------------------------------------------
// Writers. Each reserves its whole output once, then appends; nothing else is
// allocated.

/// Longest decimal `u64`.
const U64_DIGITS: usize = 20;

/// Appends `n` in decimal (no allocation; the crate has no `itoa`).
#[inline]
pub fn write_u64(out: &mut BytesMut, n: u64) {
    let mut tmp = [0u8; U64_DIGITS];
    out.extend_from_slice(format_u64(&mut tmp, n));
}

/// Formats `n` into the tail of `tmp` and returns the digits.
#[inline(always)]
fn format_u64(tmp: &mut [u8; U64_DIGITS], mut n: u64) -> &[u8] {
    let mut i = U64_DIGITS;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &tmp[i..]
}

/// Appends the `MSG`/`HMSG` control line shared by both writers.
#[inline(always)]
fn write_msg_line(out: &mut BytesMut, op: &[u8], subject: &[u8], sid: &[u8], reply: Option<&[u8]>) {
    out.extend_from_slice(op);
    out.extend_from_slice(subject);
    out.put_u8(b' ');
    out.extend_from_slice(sid);
    out.put_u8(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.put_u8(b' ');
    }
}

/// Appends `MSG <subject> <sid> [reply] <len>\r\n<payload>\r\n`, the delivery
/// of a message without headers to one subscription.
#[inline]
pub fn write_msg(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    payload: &[u8],
) {
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    out.reserve(4 + subject.len() + 1 + sid.len() + 1 + reply_len + U64_DIGITS + payload.len() + 4);
    write_msg_line(out, b"MSG ", subject, sid, reply);
    let mut tmp = [0u8; U64_DIGITS];
    out.extend_from_slice(format_u64(&mut tmp, payload.len() as u64));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `HMSG <subject> <sid> [reply] <hdr_len> <total_len>\r\n<headers><payload>\r\n`,
/// the delivery of a message with a header block to one subscription.
#[inline]
pub fn write_hmsg(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: &[u8],
    payload: &[u8],
) {
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    let total = headers.len() + payload.len();
    out.reserve(5 + subject.len() + 1 + sid.len() + 1 + reply_len + 2 * U64_DIGITS + 1 + total + 4);
    write_msg_line(out, b"HMSG ", subject, sid, reply);
    let mut tmp = [0u8; U64_DIGITS];
    out.extend_from_slice(format_u64(&mut tmp, headers.len() as u64));
    out.put_u8(b' ');
    out.extend_from_slice(format_u64(&mut tmp, total as u64));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `-ERR '<text>'\r\n`, the form every nats-server error takes.
pub fn write_err(out: &mut BytesMut, text: &str) {
    out.reserve(9 + text.len());
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// Appends `INFO <json> \r\n`. nats-server puts a space before the CRLF; we
/// copy it so byte-for-byte comparisons with the reference hold.
pub fn write_info(out: &mut BytesMut, info: &ServerInfo) {
    out.extend_from_slice(b"INFO ");
    // Serializing plain strings, numbers and bools into memory cannot fail.
    serde_json::to_writer((&mut *out).writer(), info).expect("INFO serializes");
    out.extend_from_slice(b" \r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
    };

    fn one(input: &[u8]) -> ClientOp<'_> {
        match parse(input, &L) {
            Ok(Parsed::Op { op, consumed }) => {
                assert_eq!(consumed, input.len(), "consumed for {input:?}");
                op
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }

    fn err(input: &[u8], limits: &Limits) -> ParseError {
        match parse(input, limits) {
            Err(e) => e,
            other => panic!("{input:?}: expected error, got {other:?}"),
        }
    }

    fn incomplete(input: &[u8]) -> Option<usize> {
        match parse(input, &L) {
            Ok(Parsed::Incomplete { need }) => need,
            other => panic!("{input:?}: expected Incomplete, got {other:?}"),
        }
    }

    fn small() -> Limits {
        Limits {
            max_control_line: 100,
            max_payload: 1000,
        }
    }

    #[test]
    fn pub_forms() {
        assert_eq!(
            one(b"PUB foo 5\r\nhello\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"PUB foo bar 5\r\nhello\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: Some(b"bar"),
                payload: b"hello"
            }
        );
        for input in [
            &b"pub foo bar 5\r\nhello\r\n"[..],
            b"Pub foo bar 5\r\nhello\r\n",
            b"pUb\tfoo\t\tbar \t 5\r\nhello\r\n",
            b"PUB   foo    bar   5   \r\nhello\r\n",
            b"PUB foo bar 5\nhello\r\n",
            b"PUB foo bar 000000005\r\nhello\r\n",
        ] {
            assert_eq!(
                one(input),
                ClientOp::Pub {
                    subject: b"foo",
                    reply: Some(b"bar"),
                    payload: b"hello"
                },
                "{input:?}"
            );
        }
        assert_eq!(
            one(b"PUB foo 0\r\n\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                payload: b""
            }
        );
        // Payload bytes are opaque, CRLF inside included.
        assert_eq!(
            one(b"PUB foo 4\r\n\r\n\r\n\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                payload: b"\r\n\r\n"
            }
        );
        // A stray CR stays inside a PUB field (nats-server does not split there).
        assert_eq!(
            one(b"PUB foo\rbar 0\r\n\r\n"),
            ClientOp::Pub {
                subject: b"foo\rbar",
                reply: None,
                payload: b""
            }
        );
    }

    #[test]
    fn pub_incomplete_and_need() {
        assert_eq!(incomplete(b""), None);
        assert_eq!(incomplete(b"P"), None);
        assert_eq!(incomplete(b"PUB"), None);
        assert_eq!(incomplete(b"PUB "), None);
        assert_eq!(incomplete(b"PUB foo 5"), None);
        assert_eq!(incomplete(b"PUB foo 5\r"), None);
        let line = b"PUB foo 5\r\n".len();
        assert_eq!(incomplete(b"PUB foo 5\r\n"), Some(line + 7));
        assert_eq!(incomplete(b"PUB foo 5\r\nhel"), Some(line + 7));
        assert_eq!(incomplete(b"PUB foo 5\r\nhello"), Some(line + 7));
        assert_eq!(incomplete(b"PUB foo 5\r\nhello\r"), Some(line + 7));
    }

    #[test]
    fn consumes_one_op_at_a_time() {
        let buf = b"PUB a 1\r\nx\r\nPING\r\nSUB b 2\r\n";
        let Ok(Parsed::Op { op, consumed }) = parse(buf, &L) else {
            panic!()
        };
        assert_eq!(
            op,
            ClientOp::Pub {
                subject: b"a",
                reply: None,
                payload: b"x"
            }
        );
        assert_eq!(consumed, 12);
        assert_eq!(
            parse(&buf[12..], &L),
            Ok(Parsed::Op {
                op: ClientOp::Ping,
                consumed: 6
            })
        );
    }

    #[test]
    fn pub_errors() {
        let l = &L;
        assert_eq!(err(b"PUB\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"PUBX foo 1\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"PU\r\n", l), ParseError::UnknownOp);
        let count = ParseError::ArgCount { op: ArgOp::Pub };
        assert_eq!(err(b"PUB \r\n", l), count);
        assert_eq!(err(b"PUB foo\r\n", l), count);
        assert_eq!(err(b"PUB a b c 5\r\n", l), count);
        let size = ParseError::BadSize { op: ArgOp::Pub };
        assert_eq!(err(b"PUB foo abc\r\n", l), size);
        assert_eq!(err(b"PUB foo -1\r\n", l), size);
        assert_eq!(err(b"PUB foo +5\r\n", l), size);
        assert_eq!(err(b"PUB foo 0000000005\r\n", l), size);
        assert_eq!(err(b"PUB foo 0\r\r\n", l), size);
        // Payload terminator is checked byte by byte as it arrives.
        assert_eq!(err(b"PUB foo 5\r\nhello\n", l), ParseError::BadPayloadEnd);
        assert_eq!(err(b"PUB foo 5\r\nhelloX", l), ParseError::BadPayloadEnd);
        assert_eq!(err(b"PUB foo 5\r\nhello\rX", l), ParseError::BadPayloadEnd);
        assert_eq!(
            err(b"PUB foo 5\r\nhello!\r\n", l),
            ParseError::BadPayloadEnd
        );
    }

    #[test]
    fn max_payload_decided_on_control_line() {
        let l = small();
        assert_eq!(
            parse(b"PUB foo 1000\r\n", &l),
            Ok(Parsed::Incomplete {
                need: Some(14 + 1002)
            })
        );
        let e = err(b"PUB foo 1001\r\n", &l);
        assert_eq!(
            e,
            ParseError::MaxPayload {
                size: 1001,
                max: 1000
            }
        );
        assert_eq!(e.err_text(), Some("Maximum Payload Violation"));
        assert_eq!(
            err(b"HPUB foo 12 1001\r\n", &l),
            ParseError::MaxPayload {
                size: 1001,
                max: 1000
            }
        );
        // Header/total mismatch is checked before the size limit.
        assert_eq!(
            err(b"HPUB foo 1002 1001\r\n", &l),
            ParseError::HeaderSizeTooLarge {
                hdr: 1002,
                total: 1001
            }
        );
        // Without the line end the size may still grow: no verdict yet.
        assert_eq!(parse(b"PUB foo 1001", &l), Ok(INCOMPLETE));
    }

    #[test]
    fn max_control_line() {
        let l = small();
        let a = |n: usize| vec![b'a'; n];
        // Arguments of exactly the limit pass, complete or not.
        let mut ok = b"PUB ".to_vec();
        ok.extend(a(98));
        ok.extend(b" 0");
        assert_eq!(parse(&ok, &l), Ok(INCOMPLETE));
        ok.push(b'\r');
        assert_eq!(parse(&ok, &l), Ok(INCOMPLETE));
        ok.extend(b"\n\r\n");
        assert!(matches!(parse(&ok, &l), Ok(Parsed::Op { .. })));
        // One more byte fails, complete or not, bare LF or CRLF.
        let mut bad = b"PUB ".to_vec();
        bad.extend(a(99));
        bad.extend(b" 0");
        assert_eq!(err(&bad, &l), ParseError::MaxControlLine);
        let mut complete = bad.clone();
        complete.extend(b"\r\n\r\n");
        assert_eq!(err(&complete, &l), ParseError::MaxControlLine);
        bad.extend(b"\n");
        assert_eq!(err(&bad, &l), ParseError::MaxControlLine);
        // Trailing blanks count, leading ones do not.
        let mut trailing = b"PUB ".to_vec();
        trailing.extend(a(98));
        trailing.extend(b" 0 \r\n\r\n");
        assert_eq!(err(&trailing, &l), ParseError::MaxControlLine);
        let mut leading = b"PUB".to_vec();
        leading.extend(vec![b' '; 50]);
        leading.extend(a(98));
        leading.extend(b" 0\r\n\r\n");
        assert!(matches!(parse(&leading, &l), Ok(Parsed::Op { .. })));
        // The limit wins over argument errors.
        let mut many = b"SUB ".to_vec();
        many.extend(a(99));
        many.extend(b" 1 2 3\r\n");
        assert_eq!(err(&many, &l), ParseError::MaxControlLine);
        // Every op with arguments is covered.
        for op in [
            &b"SUB "[..],
            b"UNSUB ",
            b"HPUB ",
            b"CONNECT ",
            b"INFO ",
            b"-ERR ",
            b"HMSG ",
        ] {
            let mut v = op.to_vec();
            v.extend(a(101));
            assert_eq!(err(&v, &l), ParseError::MaxControlLine, "{op:?}");
            v.extend(b"\r\n");
            assert_eq!(err(&v, &l), ParseError::MaxControlLine, "{op:?}");
        }
        assert_eq!(
            ParseError::MaxControlLine.err_text(),
            Some("maximum control line exceeded")
        );
    }

    #[test]
    fn unbounded_filler_is_bounded() {
        let l = small();
        // nats-server ignores text after PING and blanks after PUB; complete
        // lines with lots of it are accepted...
        let mut ping = b"PING ".to_vec();
        ping.extend(vec![b'x'; 500]);
        ping.extend(b"\r\n");
        assert!(matches!(
            parse(&ping, &l),
            Ok(Parsed::Op {
                op: ClientOp::Ping,
                ..
            })
        ));
        // ...but an unfinished pile past the limit is refused.
        assert_eq!(err(&ping[..200], &l), ParseError::MaxControlLine);
        let mut blanks = b"PUB".to_vec();
        blanks.extend(vec![b' '; 200]);
        assert_eq!(err(&blanks, &l), ParseError::MaxControlLine);
        assert_eq!(parse(&blanks[..90], &l), Ok(INCOMPLETE));
    }

    #[test]
    fn hpub_forms_and_errors() {
        let h = b"NATS/1.0\r\nA: b\r\n\r\n";
        let mut input = b"HPUB foo bar 18 23\r\n".to_vec();
        input.extend(h);
        input.extend(b"hello\r\n");
        assert_eq!(
            one(&input),
            ClientOp::HPub {
                subject: b"foo",
                reply: Some(b"bar"),
                headers: h,
                payload: b"hello"
            }
        );
        assert_eq!(
            one(b"hpub\tfoo  12 12\r\nNATS/1.0\r\n\r\n\r\n"),
            ClientOp::HPub {
                subject: b"foo",
                reply: None,
                headers: b"NATS/1.0\r\n\r\n",
                payload: b""
            }
        );
        // The header block is not validated (nats-server relays it as is).
        assert_eq!(
            one(b"HPUB foo 4 5\r\nXXXXy\r\n"),
            ClientOp::HPub {
                subject: b"foo",
                reply: None,
                headers: b"XXXX",
                payload: b"y"
            }
        );
        let l = &L;
        assert_eq!(err(b"HPUB\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"HPUBX", l), ParseError::UnknownOp);
        assert_eq!(err(b"HX", l), ParseError::UnknownOp);
        let count = ParseError::ArgCount { op: ArgOp::HPub };
        assert_eq!(err(b"HPUB foo\r\n", l), count);
        assert_eq!(err(b"HPUB foo 5\r\n", l), count);
        assert_eq!(err(b"HPUB foo a b 1 2\r\n", l), count);
        let size = ParseError::BadSize { op: ArgOp::HPub };
        assert_eq!(err(b"HPUB foo x 5\r\n", l), size);
        assert_eq!(err(b"HPUB foo 1 x\r\n", l), size);
        assert_eq!(
            err(b"HPUB foo 20 10\r\n", l),
            ParseError::HeaderSizeTooLarge { hdr: 20, total: 10 }
        );
        assert_eq!(
            err(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\nXX", l),
            ParseError::BadPayloadEnd
        );
        assert_eq!(incomplete(b"HPUB foo 12 14\r\nNATS"), Some(16 + 16));
    }

    #[test]
    fn sub_unsub() {
        assert_eq!(
            one(b"SUB foo 1\r\n"),
            ClientOp::Sub {
                subject: b"foo",
                queue: None,
                sid: b"1"
            }
        );
        assert_eq!(
            one(b"sub\tfoo \t q  22 \r\n"),
            ClientOp::Sub {
                subject: b"foo",
                queue: Some(b"q"),
                sid: b"22"
            }
        );
        // SUB/UNSUB split at a stray CR, like nats-server.
        assert_eq!(
            one(b"SUB foo\r1\r\n"),
            ClientOp::Sub {
                subject: b"foo",
                queue: None,
                sid: b"1"
            }
        );
        // With a bare LF after a stray CR, nats-server drops the byte before the
        // LF (here the sid) and closes on the short argument list.
        assert!(parse(b"SUB foo\r1\n", &Limits::default()).is_err());
        assert_eq!(
            one(b"UNSUB 1\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: None
            }
        );
        assert_eq!(
            one(b"unsub 1  10\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(10)
            }
        );
        assert_eq!(
            one(b"UNSUB 1\r5\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(5)
            }
        );
        assert_eq!(
            one(b"UNSUB 1 0\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(0)
            }
        );
        // A max that is not 1-9 digits means "now", as in nats-server.
        for bad in [&b"abc"[..], b"-1", b"1234567890"] {
            let mut v = b"UNSUB 1 ".to_vec();
            v.extend(bad);
            v.extend(b"\r\n");
            assert_eq!(
                one(&v),
                ClientOp::Unsub {
                    sid: b"1",
                    max: None
                }
            );
        }
        let l = &L;
        assert_eq!(err(b"SUB\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"SUBX foo 1\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"SX", l), ParseError::UnknownOp);
        let sub = ParseError::ArgCount { op: ArgOp::Sub };
        assert_eq!(err(b"SUB \r\n", l), sub);
        assert_eq!(err(b"SUB foo\r\n", l), sub);
        assert_eq!(err(b"SUB foo q 1 x\r\n", l), sub);
        assert_eq!(err(b"UNSUB\r\n", l), ParseError::UnknownOp);
        assert_eq!(err(b"UNSUBX 1\r\n", l), ParseError::UnknownOp);
        let unsub = ParseError::ArgCount { op: ArgOp::Unsub };
        assert_eq!(err(b"UNSUB \r\n", l), unsub);
        assert_eq!(err(b"UNSUB 1 2 3\r\n", l), unsub);
        assert_eq!(unsub.err_text(), None);
        assert_eq!(incomplete(b"SU"), None);
        assert_eq!(incomplete(b"SUB foo 1"), None);
        assert_eq!(incomplete(b"UNSUB 1\r"), None);
    }

    #[test]
    fn ping_pong_ok_ignore_trailing_text() {
        for (input, want) in [
            (&b"PING\r\n"[..], ClientOp::Ping),
            (b"ping\r\n", ClientOp::Ping),
            (b"PiNg\r\n", ClientOp::Ping),
            (b"PING   \r\n", ClientOp::Ping),
            (b"PING\t\r\n", ClientOp::Ping),
            (b"PING foo\r\n", ClientOp::Ping),
            (b"PINGX\r\n", ClientOp::Ping),
            (b"PING\n", ClientOp::Ping),
            (b"PONG\r\n", ClientOp::Pong),
            (b"pong x\r\n", ClientOp::Pong),
            (b"+OK\r\n", ClientOp::Ok),
            (b"+ok\r\n", ClientOp::Ok),
            (b"+OK junk\r\n", ClientOp::Ok),
        ] {
            assert_eq!(one(input), want, "{input:?}");
        }
        assert_eq!(incomplete(b"PIN"), None);
        assert_eq!(incomplete(b"PING"), None);
        assert_eq!(incomplete(b"PING\r"), None);
        assert_eq!(incomplete(b"+O"), None);
        assert_eq!(err(b"PX", &L), ParseError::UnknownOp);
        assert_eq!(err(b"PIX", &L), ParseError::UnknownOp);
        assert_eq!(err(b"+X", &L), ParseError::UnknownOp);
    }

    #[test]
    fn connect_info_err() {
        assert_eq!(
            one(b"CONNECT {\"verbose\":false}\r\n"),
            ClientOp::Connect(b"{\"verbose\":false}")
        );
        assert_eq!(one(b"connect\t {}  \r\n"), ClientOp::Connect(b"{}  "));
        // No blank needed after CONNECT / INFO.
        assert_eq!(one(b"CONNECT{}\r\n"), ClientOp::Connect(b"{}"));
        assert_eq!(one(b"CONNECT\r\n"), ClientOp::Connect(b""));
        assert_eq!(one(b"iNfO {}\r\n"), ClientOp::Info(b"{}"));
        assert_eq!(one(b"INFO{\"a\":1}\n"), ClientOp::Info(b"{\"a\":1}"));
        assert_eq!(one(b"-ERR 'foo'\r\n"), ClientOp::Err(b"'foo'"));
        assert_eq!(one(b"-err\t'x y'\r\n"), ClientOp::Err(b"'x y'"));
        assert_eq!(one(b"-ERR \r\n"), ClientOp::Err(b""));
        assert_eq!(err(b"-ERR\r\n", &L), ParseError::UnknownOp);
        assert_eq!(err(b"-ERRX", &L), ParseError::UnknownOp);
        assert_eq!(err(b"-X", &L), ParseError::UnknownOp);
        assert_eq!(err(b"CONNX", &L), ParseError::UnknownOp);
        assert_eq!(incomplete(b"C"), None);
        assert_eq!(incomplete(b"CONNECT"), None);
        assert_eq!(incomplete(b"CONNECT {}"), None);
        assert_eq!(incomplete(b"-ER"), None);
    }

    #[test]
    fn unknown_ops() {
        for input in [
            &b"FOO\r\n"[..],
            b"X",
            b" PING\r\n",
            b"\tPING\r\n",
            b"\r\nPING\r\n",
            b"\nPING\r\n",
            b"MSG foo 1 5\r\n",
            b"M",
            b"RS+ $G foo\r\n",
            b"LS+ foo\r\n",
            b"A+ foo\r\n",
            b"\x0bPING\r\n",
            b"HMSGX",
            b"HMSG\r\n",
            b"HMSG foo 1 12 12\r\n",
        ] {
            let e = err(input, &L);
            assert_eq!(e, ParseError::UnknownOp, "{input:?}");
            assert_eq!(e.err_text(), Some("Unknown Protocol Operation"));
        }
        // HMSG waits for its line like nats-server does.
        assert_eq!(incomplete(b"HMSG foo 1 12 12"), None);
        assert_eq!(ParseError::BadPayloadEnd.err_text(), Some(ERR_UNKNOWN_OP));
    }

    #[test]
    fn silent_errors() {
        for e in [
            ParseError::ArgCount { op: ArgOp::Pub },
            ParseError::BadSize { op: ArgOp::HPub },
            ParseError::HeaderSizeTooLarge { hdr: 2, total: 1 },
        ] {
            assert_eq!(e.err_text(), None, "{e}");
        }
    }

    #[test]
    fn u64_formatting() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u32::MAX as u64, u64::MAX] {
            let mut b = BytesMut::new();
            write_u64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }

    #[test]
    fn writers() {
        let mut b = BytesMut::new();
        write_msg(&mut b, b"foo.bar", b"7", None, b"hello");
        assert_eq!(&b[..], b"MSG foo.bar 7 5\r\nhello\r\n");
        b.clear();
        write_msg(&mut b, b"foo", b"1", Some(b"_INBOX.x"), b"");
        assert_eq!(&b[..], b"MSG foo 1 _INBOX.x 0\r\n\r\n");
        b.clear();
        write_hmsg(
            &mut b,
            b"foo",
            b"1",
            Some(b"bar"),
            b"NATS/1.0\r\nA: b\r\n\r\n",
            b"hello",
        );
        assert_eq!(
            &b[..],
            b"HMSG foo 1 bar 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n"
        );
        b.clear();
        write_hmsg(&mut b, b"inbox", b"1", None, NO_RESPONDERS_HDR, b"");
        assert_eq!(&b[..], b"HMSG inbox 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
        b.clear();
        write_err(&mut b, "Unknown Protocol Operation");
        assert_eq!(&b[..], b"-ERR 'Unknown Protocol Operation'\r\n");
    }
}
