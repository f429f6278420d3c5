//! Byte-level pieces both protocol parsers (client and route) share: field
//! splitting, nats-server's size syntax and the payload terminator check.

/// Space and tab: the separators inside a control line.
#[inline(always)]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `s` into at most `N` fields separated by runs of `sep` bytes.
/// Returns the fields and their count, or `None` when there are more than `N`.
#[inline(always)]
pub(crate) fn split<const N: usize>(s: &[u8], sep: fn(u8) -> bool) -> Option<([&[u8]; N], usize)> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut count = 0;
    let mut i = 0;
    while i < s.len() {
        if sep(s[i]) {
            i += 1;
            continue;
        }
        let begin = i;
        while i < s.len() && !sep(s[i]) {
            i += 1;
        }
        if count == N {
            return None;
        }
        out[count] = &s[begin..i];
        count += 1;
    }
    Some((out, count))
}

/// nats-server's size syntax: 1 to 9 ASCII digits (leading zeros allowed), so
/// the value always fits and a sign or a tenth digit is an error.
#[inline(always)]
pub(crate) fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in d {
        let v = b.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n * 10 + v as usize;
    }
    Some(n)
}

/// The bytes after a payload were not CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadTerminator;

/// Checks the body that starts at `start` (`size` bytes, then CRLF) and returns
/// it once complete. Terminator bytes are checked as soon as they arrive, so a
/// wrong one is reported before the rest of the stream.
#[inline(always)]
pub(crate) fn body(buf: &[u8], start: usize, size: usize) -> Result<Option<&[u8]>, BadTerminator> {
    let end = start + size;
    if buf.len() >= end + 2 {
        if buf[end] != b'\r' || buf[end + 1] != b'\n' {
            return Err(BadTerminator);
        }
        return Ok(Some(&buf[start..end]));
    }
    if buf.len() > end && buf[end] != b'\r' {
        return Err(BadTerminator);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_fields_and_refuses_extra() {
        let (f, n) = split::<3>(b"  a\t\tbb c ", is_blank).unwrap();
        assert_eq!((n, f[0], f[1], f[2]), (3, &b"a"[..], &b"bb"[..], &b"c"[..]));
        assert!(split::<2>(b"a b c", is_blank).is_none());
        assert_eq!(split::<2>(b"   ", is_blank).unwrap().1, 0);
    }

    #[test]
    fn sizes_follow_nats_server() {
        assert_eq!(parse_size(b"005"), Some(5));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"1000000000"), None);
        assert_eq!(parse_size(b"+5"), None);
        assert_eq!(parse_size(b""), None);
    }

    #[test]
    fn body_checks_terminator_as_it_arrives() {
        assert_eq!(body(b"PUB x 2\r\nhi\r\n", 9, 2), Ok(Some(&b"hi"[..])));
        assert_eq!(body(b"PUB x 2\r\nhi\r", 9, 2), Ok(None));
        assert_eq!(body(b"PUB x 2\r\nhiX", 9, 2), Err(BadTerminator));
        assert_eq!(body(b"PUB x 2\r\nhi\rX", 9, 2), Err(BadTerminator));
    }
}
