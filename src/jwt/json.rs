//! JSON output byte-compatible with Go's `encoding/json`, which is what the
//! NATS tooling (and so every token in the field) is written with.
//!
//! Why it matters: the `jti` of a token is a hash of JSON bytes, so a claim
//! whose name holds `<`, `>` or `&` (Go writes `\u003c`, `\u003e`, `\u0026`)
//! only gets the same `jti` here if we escape the same way. It also makes a
//! token re-encoded by tracebus byte-identical to one minted by the
//! official library, which is the strongest interop check we have.
//!
//! Differences from serde_json's default: `<`, `>`, `&`, U+2028 and U+2029
//! are written as `\u00XX`/`\u20XX`; backspace and form feed as `\u0008` and
//! `\u000c` (Go 1.19/1.20, the toolchains nats-server 2.9 was built with).

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use std::io;

/// A serde_json formatter that escapes strings the way Go does.
#[derive(Default, Clone, Copy)]
pub(crate) struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc: Option<&[u8]> = match c {
                '<' => Some(b"\\u003c"),
                '>' => Some(b"\\u003e"),
                '&' => Some(b"\\u0026"),
                '\u{2028}' => Some(b"\\u2028"),
                '\u{2029}' => Some(b"\\u2029"),
                _ => None,
            };
            if let Some(esc) = esc {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                writer.write_all(esc)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W>(&mut self, writer: &mut W, char_escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(b) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let buf = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ];
                return writer.write_all(&buf);
            }
        };
        writer.write_all(s)
    }
}

/// Serializes `value` to compact JSON with Go's escaping rules.
pub(crate) fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let s = "a<b>&c\u{2028}\u{2029}\u{8}\u{c}\n\t\"\\\u{1}é";
        let out = String::from_utf8(to_go_json(s).unwrap()).unwrap();
        assert_eq!(
            out,
            r#""a\u003cb\u003e\u0026c\u2028\u2029\u0008\u000c\n\t\"\\\u0001é""#
        );
    }
}
