//! Scanner for what a NATS server sends to a client (`MSG`, `HMSG`, `PING`,
//! `PONG`, `+OK`, `-ERR`, `INFO`).
//!
//! The root crate's `tracebus::protocol::client::parse` reads the *client's*
//! side of the protocol (it rejects `MSG`), so the load generator needs its own
//! reader for the server's side. It is built for counting millions of
//! deliveries per second: one `memchr` for the line end, the size read
//! backwards from the end of the control line, and nothing else. Subject, sid
//! and reply are only split out on request ([`msg_reply`]), because most
//! subscribers in a benchmark only count. Nothing allocates.

use memchr::memchr;

/// One op from the server; slices borrow from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// `MSG <subject> <sid> [reply] <size>`: `args` is the text after `MSG `
    /// (CR excluded), `payload` the message body.
    Msg {
        args: &'a [u8],
        payload: &'a [u8],
    },
    /// `HMSG <subject> <sid> [reply] <hdr_len> <total_len>`: `body` holds the
    /// header block followed by the payload; `hdr_len` splits it.
    HMsg {
        args: &'a [u8],
        hdr_len: usize,
        body: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    /// The text after `-ERR ` (quotes included).
    Err(&'a [u8]),
    /// The JSON after `INFO `.
    Info(&'a [u8]),
}

impl ServerOp<'_> {
    /// Payload bytes the op carries (headers excluded), for byte counters.
    pub fn payload_len(&self) -> usize {
        match self {
            ServerOp::Msg { payload, .. } => payload.len(),
            ServerOp::HMsg { hdr_len, body, .. } => body.len() - hdr_len,
            _ => 0,
        }
    }
}

/// Result of one [`scan`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// A complete op that used `consumed` bytes of the buffer.
    Op { op: ServerOp<'a>, consumed: usize },
    /// The buffer ends inside an op; `need` is the op's full length once its
    /// control line is known, so the caller can grow its buffer in one step.
    Incomplete { need: Option<usize> },
}

/// The server sent something that is not the NATS server protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("unexpected bytes from server: {0:?}")]
    Unexpected(String),
    #[error("bad size in control line: {0:?}")]
    BadSize(String),
    #[error("message payload not followed by CRLF")]
    BadPayloadEnd,
}

/// Longest control line we wait for before calling the stream broken (INFO
/// lines with many `connect_urls` can be long, so be generous).
const MAX_LINE: usize = 64 * 1024;

/// Scans the first op in `buf`.
#[inline]
pub fn scan(buf: &[u8]) -> Result<Scan<'_>, WireError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > MAX_LINE {
            return Err(unexpected(buf));
        }
        return Ok(Scan::Incomplete { need: None });
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let line = &buf[..line_end];
    // Servers write op names in upper case; the first byte is enough to pick
    // the candidate, the prefix check confirms it.
    match buf[0] {
        b'M' if line.starts_with(b"MSG ") => {
            let args = &line[4..];
            let (size, _) = last_number(args)?;
            body(buf, nl, size, |payload| ServerOp::Msg { args, payload })
        }
        b'H' if line.starts_with(b"HMSG ") => {
            let args = &line[5..];
            let (total, rest) = last_number(args)?;
            let (hdr_len, _) = last_number(rest)?;
            if hdr_len > total {
                return Err(WireError::BadSize(lossy(line)));
            }
            body(buf, nl, total, |body| ServerOp::HMsg {
                args,
                hdr_len,
                body,
            })
        }
        b'P' if line == b"PING" => Ok(op(ServerOp::Ping, nl)),
        b'P' if line == b"PONG" => Ok(op(ServerOp::Pong, nl)),
        b'+' if line == b"+OK" => Ok(op(ServerOp::Ok, nl)),
        b'-' if line.starts_with(b"-ERR") => Ok(op(ServerOp::Err(trim(&line[4..])), nl)),
        b'I' if line.starts_with(b"INFO") => Ok(op(ServerOp::Info(trim(&line[4..])), nl)),
        _ => Err(unexpected(line)),
    }
}

fn op(op: ServerOp<'_>, nl: usize) -> Scan<'_> {
    Scan::Op {
        op,
        consumed: nl + 1,
    }
}

/// Takes `size` body bytes after the control line ending at `nl`, checking
/// the CRLF that must follow them.
#[inline(always)]
fn body<'a>(
    buf: &'a [u8],
    nl: usize,
    size: usize,
    make: impl FnOnce(&'a [u8]) -> ServerOp<'a>,
) -> Result<Scan<'a>, WireError> {
    let start = nl + 1;
    let need = start + size + 2;
    if buf.len() < need {
        return Ok(Scan::Incomplete { need: Some(need) });
    }
    if &buf[start + size..need] != b"\r\n" {
        return Err(WireError::BadPayloadEnd);
    }
    Ok(Scan::Op {
        op: make(&buf[start..start + size]),
        consumed: need,
    })
}

/// Reads the decimal number at the end of `args` (after trailing blanks) and
/// returns it with the text before it.
#[inline(always)]
fn last_number(args: &[u8]) -> Result<(usize, &[u8]), WireError> {
    let mut end = args.len();
    while end > 0 && is_blank(args[end - 1]) {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && args[start - 1].is_ascii_digit() {
        start -= 1;
    }
    // Nine digits is nats' own limit for sizes; it also rules out overflow.
    if start == end || end - start > 9 || (start > 0 && !is_blank(args[start - 1])) {
        return Err(WireError::BadSize(lossy(args)));
    }
    let n = args[start..end]
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    Ok((n, &args[..start]))
}

/// Splits `MSG`/`HMSG` arguments into blank-separated fields.
pub fn fields(args: &[u8]) -> impl Iterator<Item = &[u8]> {
    args.split(|b| is_blank(*b)).filter(|f| !f.is_empty())
}

/// The reply subject of a `MSG` (`subject sid reply size`) or `HMSG`
/// (`subject sid reply hdr total`), if it has one.
pub fn msg_reply(args: &[u8], is_hmsg: bool) -> Option<&[u8]> {
    let with_reply = if is_hmsg { 5 } else { 4 };
    let mut n = 0;
    let mut third = None;
    for (i, f) in fields(args).enumerate() {
        if i == 2 {
            third = Some(f);
        }
        n += 1;
    }
    if n == with_reply {
        third
    } else {
        None
    }
}

#[inline(always)]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !is_blank(*b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_blank(*b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(&s[..s.len().min(200)]).into_owned()
}

fn unexpected(s: &[u8]) -> WireError {
    WireError::Unexpected(lossy(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(mut buf: &[u8]) -> Vec<ServerOp<'_>> {
        let mut out = Vec::new();
        while let Scan::Op { op, consumed } = scan(buf).unwrap() {
            out.push(op);
            buf = &buf[consumed..];
        }
        out
    }

    #[test]
    fn scans_every_server_op() {
        let buf = b"INFO {\"a\":1} \r\nMSG foo 1 5\r\nhello\r\nMSG foo.bar 22 _INBOX.x 0\r\n\r\n\
HMSG h 3 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'Stale Connection'\r\n";
        let got = ops(buf);
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], ServerOp::Info(b"{\"a\":1}"));
        assert_eq!(
            got[1],
            ServerOp::Msg {
                args: b"foo 1 5",
                payload: b"hello"
            }
        );
        assert_eq!(got[2].payload_len(), 0);
        assert_eq!(
            msg_reply(b"foo.bar 22 _INBOX.x 0", false),
            Some(&b"_INBOX.x"[..])
        );
        assert_eq!(msg_reply(b"foo 1 5", false), None);
        assert_eq!(got[3].payload_len(), 2);
        assert_eq!(got[4], ServerOp::Ping);
        assert_eq!(got[5], ServerOp::Pong);
        assert_eq!(got[6], ServerOp::Ok);
        assert_eq!(got[7], ServerOp::Err(b"'Stale Connection'"));
    }

    #[test]
    fn every_split_point_is_incomplete_then_whole() {
        let buf = b"MSG bench.0 1 3\r\nabc\r\n";
        for cut in 0..buf.len() {
            assert!(
                matches!(scan(&buf[..cut]).unwrap(), Scan::Incomplete { .. }),
                "cut {cut}"
            );
        }
        assert!(matches!(scan(buf).unwrap(), Scan::Op { consumed: 22, .. }));
        assert_eq!(
            scan(&buf[..20]).unwrap(),
            Scan::Incomplete { need: Some(22) }
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(scan(b"MSG foo 1 x\r\n").is_err());
        assert!(scan(b"MSG foo 1 3\r\nabcXY").is_err());
        assert!(scan(b"WAT\r\n").is_err());
        assert!(scan(b"HMSG foo 1 9 3\r\n").is_err());
    }
}
