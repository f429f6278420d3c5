//! Property tests for the client protocol parser and writers.
//!
//! The main property: a random sequence of valid ops, serialized with random
//! (but valid) spelling, comes out of the parser unchanged however the byte
//! stream is cut into reads, when fed the way the connection's I/O layer does
//! it (append the read to a buffer, parse until Incomplete, drop what was
//! consumed).

use bytes::BytesMut;
use proptest::prelude::*;
use tracebus::protocol::client::{
    parse, write_err, write_hmsg, write_msg, write_u64, ClientOp, Limits, Parsed,
};

/// Owned mirror of `ClientOp`, so generated ops outlive the buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Connect(Vec<u8>),
    Pub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    HPub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Sub {
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        sid: Vec<u8>,
    },
    Unsub {
        sid: Vec<u8>,
        max: Option<u64>,
    },
    Ping,
    Pong,
    Info(Vec<u8>),
    Ok,
    Err(Vec<u8>),
}

impl Op {
    fn from_parsed(op: ClientOp<'_>) -> Op {
        let v = |s: &[u8]| s.to_vec();
        match op {
            ClientOp::Connect(j) => Op::Connect(v(j)),
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => Op::Pub {
                subject: v(subject),
                reply: reply.map(v),
                payload: v(payload),
            },
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => Op::HPub {
                subject: v(subject),
                reply: reply.map(v),
                headers: v(headers),
                payload: v(payload),
            },
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => Op::Sub {
                subject: v(subject),
                queue: queue.map(v),
                sid: v(sid),
            },
            ClientOp::Unsub { sid, max } => Op::Unsub { sid: v(sid), max },
            ClientOp::Ping => Op::Ping,
            ClientOp::Pong => Op::Pong,
            ClientOp::Info(j) => Op::Info(v(j)),
            ClientOp::Ok => Op::Ok,
            ClientOp::Err(t) => Op::Err(v(t)),
        }
    }
}

/// How one op is spelled on the wire: the parser must not care.
#[derive(Debug, Clone)]
struct Style {
    /// Per-letter upper/lower case of the op name.
    case_mask: u32,
    /// Separator runs (each 1-3 blanks), reused cyclically.
    seps: Vec<Vec<u8>>,
    /// Blanks before the line end (not for CONNECT/INFO/-ERR, whose argument
    /// text runs to the line end).
    trailing: Vec<u8>,
    /// Bare LF instead of CRLF at the end of the control line.
    bare_lf: bool,
    /// Text after PING/PONG/+OK, which nats-server ignores.
    junk: Vec<u8>,
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            b'a'..=b'z',
            b'A'..=b'Z',
            b'0'..=b'9',
            Just(b'.'),
            Just(b'_'),
            Just(b'*'),
            Just(b'>'),
            Just(b'-'),
            Just(b'$'),
        ],
        1..12,
    )
}

fn blank_run() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 1..4)
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<u32>(),
        proptest::collection::vec(blank_run(), 1..5),
        proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 0..3),
        any::<bool>(),
        proptest::collection::vec(
            prop_oneof![Just(b' '), Just(b'x'), Just(b'\t'), Just(b'\r')],
            0..4,
        ),
    )
        .prop_map(|(case_mask, seps, trailing, bare_lf, junk)| Style {
            case_mask,
            seps,
            trailing,
            bare_lf,
            junk,
        })
}

/// JSON-ish argument text: starts with a non-blank, no LF, does not end in CR.
fn json_text() -> impl Strategy<Value = Vec<u8>> {
    (
        token(),
        proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 0..3),
    )
        .prop_map(|(t, trail)| {
            let mut v = b"{\"name\":\"".to_vec();
            v.extend(t);
            v.extend(b"\", \"verbose\":false}");
            v.extend(trail);
            v
        })
}

fn header_block() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((token(), token()), 0..3).prop_map(|kvs| {
        let mut v = b"NATS/1.0\r\n".to_vec();
        for (k, val) in kvs {
            v.extend(k);
            v.extend(b": ");
            v.extend(val);
            v.extend(b"\r\n");
        }
        v.extend(b"\r\n");
        v
    })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), 0..2048),
        // Payloads that look like protocol must stay opaque.
        1 => Just(b"PING\r\nPUB x 1\r\n".to_vec()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (token(), proptest::option::of(token()), payload()).prop_map(
            |(subject, reply, payload)| Op::Pub { subject, reply, payload }
        ),
        2 => (token(), proptest::option::of(token()), header_block(), payload()).prop_map(
            |(subject, reply, headers, payload)| Op::HPub { subject, reply, headers, payload }
        ),
        2 => (token(), proptest::option::of(token()), token()).prop_map(
            |(subject, queue, sid)| Op::Sub { subject, queue, sid }
        ),
        1 => (token(), proptest::option::of(0u64..=999_999_999)).prop_map(
            |(sid, max)| Op::Unsub { sid, max }
        ),
        1 => Just(Op::Ping),
        1 => Just(Op::Pong),
        1 => Just(Op::Ok),
        1 => json_text().prop_map(Op::Connect),
        1 => json_text().prop_map(Op::Info),
        1 => token().prop_map(|t| {
            let mut v = b"'".to_vec();
            v.extend(t);
            v.push(b'\'');
            Op::Err(v)
        }),
    ]
}

fn name(out: &mut Vec<u8>, text: &str, st: &Style) {
    for (i, b) in text.bytes().enumerate() {
        if st.case_mask >> (i % 32) & 1 == 1 {
            out.push(b.to_ascii_lowercase());
        } else {
            out.push(b);
        }
    }
}

fn encode(op: &Op, st: &Style, out: &mut Vec<u8>) {
    let eol: &[u8] = if st.bare_lf { b"\n" } else { b"\r\n" };
    let mut sep_i = 0;
    let mut sep = |out: &mut Vec<u8>| {
        out.extend(&st.seps[sep_i % st.seps.len()]);
        sep_i += 1;
    };
    // Writes the argument fields separated by blank runs, then the line end.
    let mut args = |out: &mut Vec<u8>, op_name: &str, fields: &[&[u8]]| {
        name(out, op_name, st);
        for f in fields {
            sep(out);
            out.extend(*f);
        }
        out.extend(&st.trailing);
        out.extend(eol);
    };
    match op {
        Op::Pub {
            subject,
            reply,
            payload,
        } => {
            let size = payload.len().to_string();
            let mut f: Vec<&[u8]> = vec![subject];
            if let Some(r) = reply {
                f.push(r);
            }
            f.push(size.as_bytes());
            args(out, "PUB", &f);
            out.extend(payload);
            out.extend(b"\r\n");
        }
        Op::HPub {
            subject,
            reply,
            headers,
            payload,
        } => {
            let hdr = headers.len().to_string();
            let total = (headers.len() + payload.len()).to_string();
            let mut f: Vec<&[u8]> = vec![subject];
            if let Some(r) = reply {
                f.push(r);
            }
            f.push(hdr.as_bytes());
            f.push(total.as_bytes());
            args(out, "HPUB", &f);
            out.extend(headers);
            out.extend(payload);
            out.extend(b"\r\n");
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            let mut f: Vec<&[u8]> = vec![subject];
            if let Some(q) = queue {
                f.push(q);
            }
            f.push(sid);
            args(out, "SUB", &f);
        }
        Op::Unsub { sid, max } => {
            let m = max.map(|m| m.to_string());
            let mut f: Vec<&[u8]> = vec![sid];
            if let Some(m) = &m {
                f.push(m.as_bytes());
            }
            args(out, "UNSUB", &f);
        }
        Op::Ping | Op::Pong | Op::Ok => {
            let text = match op {
                Op::Ping => "PING",
                Op::Pong => "PONG",
                _ => "+OK",
            };
            name(out, text, st);
            out.extend(&st.junk);
            out.extend(eol);
        }
        Op::Connect(text) | Op::Info(text) | Op::Err(text) => {
            let op_name = match op {
                Op::Connect(_) => "CONNECT",
                Op::Info(_) => "INFO",
                _ => "-ERR",
            };
            name(out, op_name, st);
            sep(out);
            out.extend(text);
            out.extend(eol);
        }
    }
}

/// Feeds `stream` in chunks ending at `cuts` exactly as the I/O layer will,
/// checking the `need` hint along the way, and returns the ops.
fn feed(stream: &[u8], cuts: &[usize], limits: &Limits) -> Vec<Op> {
    let mut buf: Vec<u8> = Vec::new();
    let mut ops = Vec::new();
    let mut prev = 0;
    let mut promised: Option<usize> = None;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        if cut < prev {
            continue;
        }
        buf.extend_from_slice(&stream[prev..cut]);
        prev = cut;
        let mut pos = 0;
        loop {
            match parse(&buf[pos..], limits).expect("valid stream must parse") {
                Parsed::Op { op, consumed } => {
                    assert!(consumed > 0);
                    if let Some(n) = promised.take() {
                        assert_eq!(consumed, n, "need hint must equal the op's size");
                    }
                    ops.push(Op::from_parsed(op));
                    pos += consumed;
                }
                Parsed::Incomplete { need } => {
                    if let Some(n) = need {
                        assert!(n > buf.len() - pos, "need must exceed what is there");
                        if let Some(p) = promised {
                            assert_eq!(p, n, "need hint must be stable");
                        }
                        promised = Some(n);
                    }
                    break;
                }
            }
        }
        buf.drain(..pos);
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    ops
}

fn ops_and_stream() -> impl Strategy<Value = (Vec<Op>, Vec<u8>)> {
    proptest::collection::vec((op(), style()), 1..24).prop_map(|v| {
        let mut stream = Vec::new();
        for (op, st) in &v {
            encode(op, st, &mut stream);
        }
        (v.into_iter().map(|(op, _)| op).collect(), stream)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_ops(
        (ops, stream) in ops_and_stream(),
        raw_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let limits = Limits::default();
        let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(&feed(&stream, &cuts, &limits), &ops);
        // One read for everything, and one byte per read.
        prop_assert_eq!(&feed(&stream, &[], &limits), &ops);
        let every: Vec<usize> = (1..stream.len()).collect();
        prop_assert_eq!(&feed(&stream, &every, &limits), &ops);
    }

    #[test]
    fn write_msg_exact_bytes(
        subject in token(),
        sid in token(),
        reply in proptest::option::of(token()),
        payload in payload(),
    ) {
        let mut out = BytesMut::new();
        write_msg(&mut out, &subject, &sid, reply.as_deref(), &payload);
        let mut want = b"MSG ".to_vec();
        want.extend(&subject);
        want.push(b' ');
        want.extend(&sid);
        want.push(b' ');
        if let Some(r) = &reply {
            want.extend(r);
            want.push(b' ');
        }
        want.extend(payload.len().to_string().bytes());
        want.extend(b"\r\n");
        want.extend(&payload);
        want.extend(b"\r\n");
        prop_assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn write_hmsg_exact_bytes(
        subject in token(),
        sid in token(),
        reply in proptest::option::of(token()),
        headers in header_block(),
        payload in payload(),
    ) {
        let mut out = BytesMut::new();
        write_hmsg(&mut out, &subject, &sid, reply.as_deref(), &headers, &payload);
        let mut want = b"HMSG ".to_vec();
        want.extend(&subject);
        want.push(b' ');
        want.extend(&sid);
        want.push(b' ');
        if let Some(r) = &reply {
            want.extend(r);
            want.push(b' ');
        }
        want.extend(format!("{} {}\r\n", headers.len(), headers.len() + payload.len()).bytes());
        want.extend(&headers);
        want.extend(&payload);
        want.extend(b"\r\n");
        prop_assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn write_u64_matches_display(n in any::<u64>()) {
        let mut out = BytesMut::new();
        write_u64(&mut out, n);
        let want = n.to_string();
        prop_assert_eq!(&out[..], want.as_bytes());
    }

    /// What a client publishes is what a subscriber is sent: PUB/HPUB parsed,
    /// re-emitted with the writers, yields the same subject, reply and bytes.
    #[test]
    fn publish_to_delivery_round_trip(
        subject in token(),
        reply in proptest::option::of(token()),
        headers in header_block(),
        payload in payload(),
    ) {
        let mut input = Vec::new();
        encode(
            &Op::HPub { subject: subject.clone(), reply: reply.clone(), headers: headers.clone(), payload: payload.clone() },
            &Style { case_mask: 0, seps: vec![b" ".to_vec()], trailing: vec![], bare_lf: false, junk: vec![] },
            &mut input,
        );
        let Ok(Parsed::Op { op: ClientOp::HPub { subject: s, reply: r, headers: h, payload: p }, .. }) =
            parse(&input, &Limits::default())
        else {
            panic!("HPUB did not parse");
        };
        let mut out = BytesMut::new();
        write_hmsg(&mut out, s, b"9", r, h, p);
        let mut want = b"HMSG ".to_vec();
        want.extend(&subject);
        want.extend(b" 9 ");
        if let Some(r) = &reply {
            want.extend(r);
            want.push(b' ');
        }
        want.extend(format!("{} {}\r\n", headers.len(), headers.len() + payload.len()).bytes());
        want.extend(&headers);
        want.extend(&payload);
        want.extend(b"\r\n");
        prop_assert_eq!(&out[..], &want[..]);
    }
}

#[test]
fn write_err_exact_bytes() {
    let mut out = BytesMut::new();
    write_err(&mut out, "maximum control line exceeded");
    assert_eq!(&out[..], b"-ERR 'maximum control line exceeded'\r\n");
}
