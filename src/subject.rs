//! Subject and queue-name rules: validation, tokenizing and wildcard matching.
//!
//! Everything here is pure and works on borrowed bytes without allocating, because it
//! runs on the hot path (every SUB, every PUB subject check, permission checks).
//!
//! A subject is a sequence of tokens separated by `.`. In filters (SUB subjects,
//! permission patterns) two *whole* tokens are wildcards:
//! - `*` matches exactly one token;
//! - `>` matches one or more trailing tokens and must therefore be the last token.
//!
//! A token that merely *contains* `*` or `>` (e.g. `foo*` or `>>`) is an ordinary
//! literal token, so `foo*.bar` is a valid subject that only matches itself.

/// The token separator.
const SEP: u8 = b'.';

/// Whitespace bytes that may never appear in a subject or queue name (they would break
/// the space-separated text protocol).
#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// Shared validator: `allow_wildcards` decides whether the whole tokens `*` and `>`
/// are accepted (filters) or rejected (publish subjects).
#[inline]
fn validate(s: &[u8], allow_wildcards: bool) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut after_fwc = false;
    for tok in tokens(s) {
        // Nothing may follow a `>` token, and empty tokens ("a..b", ".a", "a.") are invalid.
        if after_fwc || tok.is_empty() {
            return false;
        }
        match tok {
            b"*" | b">" if !allow_wildcards => return false,
            b">" => after_fwc = true,
            _ => {
                if tok.iter().copied().any(is_ws) {
                    return false;
                }
            }
        }
    }
    true
}

/// Is `s` acceptable as a subscription subject or filter?
///
/// Non-empty, no empty tokens, no whitespace anywhere, and a `>` token only in last
/// position. Wildcard tokens are allowed; multi-byte tokens containing `*`/`>` are
/// literal and allowed.
pub fn is_valid_subject(s: &[u8]) -> bool {
    validate(s, true)
}

/// Is `s` acceptable as a publish subject: a valid subject without wildcard tokens?
///
/// Publishing must name one concrete subject; a message published to `foo.*` would be
/// ambiguous, so the server refuses it.
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    validate(s, false)
}

/// Is `q` acceptable as a queue group name? Non-empty and without whitespace (the name is
/// a field of the space-separated `SUB` line).
pub fn is_valid_queue(q: &[u8]) -> bool {
    !q.is_empty() && !q.iter().copied().any(is_ws)
}

/// Does `s` contain a wildcard token (a whole token equal to `*` or `>`)?
///
/// The sublist uses this to choose between precise single-key cache invalidation
/// (literal filter) and a scan of the cache (wildcard filter).
pub fn has_wildcard(s: &[u8]) -> bool {
    tokens(s).any(|t| t == b"*" || t == b">")
}

/// Does the literal `subject` match `filter`?
///
/// `*` in the filter matches exactly one token, `>` matches one or more trailing
/// tokens; every other filter token must equal the subject token byte for byte.
/// Subject tokens are never treated as wildcards. Both arguments are expected to be
/// valid (see [`is_valid_subject`]); an empty filter or subject never matches. This is
/// the reference semantics the sublist trie must agree with, and it is what permission
/// checks use.
pub fn subject_matches(filter: &[u8], subject: &[u8]) -> bool {
    if filter.is_empty() || subject.is_empty() {
        return false;
    }
    let mut ft = tokens(filter);
    let mut st = tokens(subject);
    loop {
        match (ft.next(), st.next()) {
            (None, None) => return true,
            // `>` swallows this token and everything after it, but only as the last
            // filter token (a mid-filter `>` is invalid and matches nothing).
            (Some(b">"), Some(_)) => return ft.next().is_none(),
            (Some(b"*"), Some(_)) => {}
            (Some(f), Some(s)) if f == s => {}
            _ => return false,
        }
    }
}

/// Iterate over the `.`-separated tokens of `s`, borrowing from it.
///
/// Empty tokens are yielded as empty slices (so `""` yields one empty token and `"a..b"`
/// yields `a`, ``, `b`), which is what validation relies on to reject them.
pub fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == SEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subjects() {
        for s in [
            "foo",
            "foo.bar",
            "foo.*",
            "*",
            ">",
            "foo.>",
            "*.*.>",
            "foo.*.bar",
            "foo*.bar",
            "foo.bar*",
            "foo.>bar",
            "foo.>>",
            "**.>",
            "a.b.c.d.e.f.g",
            "$SYS.REQ.>",
            "_INBOX.abc123",
            "ünïcode.subj",
        ] {
            assert!(is_valid_subject(s.as_bytes()), "{s:?} should be valid");
        }
    }

    #[test]
    fn invalid_subjects() {
        for s in [
            "",
            ".",
            "..",
            ".foo",
            "foo.",
            "foo..bar",
            ">.foo",
            "foo.>.bar",
            "foo.>.>",
            ">.>",
            "foo bar",
            "foo.bar ",
            " foo",
            "foo\t.bar",
            "foo.\rbar",
            "foo\n",
            "foo\x0cbar",
            " ",
            "* ",
            "> ",
        ] {
            assert!(!is_valid_subject(s.as_bytes()), "{s:?} should be invalid");
        }
    }

    #[test]
    fn literal_subjects() {
        for s in ["foo", "foo.bar", "foo*.bar", "foo.>bar", "a.**", "a.>>"] {
            assert!(is_valid_literal_subject(s.as_bytes()), "{s:?}");
        }
        for s in [
            "", "*", ">", "foo.*", "foo.>", "*.foo", "foo..bar", "foo bar",
        ] {
            assert!(!is_valid_literal_subject(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn queues() {
        assert!(is_valid_queue(b"workers"));
        assert!(is_valid_queue(b"q.with.dots"));
        assert!(is_valid_queue(b"*"));
        assert!(!is_valid_queue(b""));
        assert!(!is_valid_queue(b"a b"));
        assert!(!is_valid_queue(b"a\tb"));
        assert!(!is_valid_queue(b"a\r\n"));
    }

    #[test]
    fn wildcard_detection() {
        assert!(has_wildcard(b"*"));
        assert!(has_wildcard(b">"));
        assert!(has_wildcard(b"foo.*.bar"));
        assert!(has_wildcard(b"foo.>"));
        assert!(!has_wildcard(b"foo"));
        assert!(!has_wildcard(b"foo*.bar"));
        assert!(!has_wildcard(b"foo.>bar"));
        assert!(!has_wildcard(b"**"));
    }

    #[test]
    fn tokenizing() {
        let t: Vec<&[u8]> = tokens(b"a.bc.d").collect();
        assert_eq!(t, vec![&b"a"[..], b"bc", b"d"]);
        assert_eq!(tokens(b"").count(), 1);
        assert_eq!(tokens(b"a..b").count(), 3);
        assert_eq!(tokens(b"abc").collect::<Vec<_>>(), vec![&b"abc"[..]]);
    }

    #[test]
    fn matching() {
        let yes = [
            ("foo", "foo"),
            ("foo.bar", "foo.bar"),
            ("*", "foo"),
            (">", "foo"),
            (">", "foo.bar.baz"),
            ("foo.*", "foo.bar"),
            ("foo.>", "foo.bar"),
            ("foo.>", "foo.bar.baz"),
            ("*.bar", "foo.bar"),
            ("*.*", "a.b"),
            ("foo.*.baz", "foo.bar.baz"),
            ("*.>", "a.b"),
            ("foo*.bar", "foo*.bar"),
            ("foo.*", "foo.*"),
        ];
        for (f, s) in yes {
            assert!(subject_matches(f.as_bytes(), s.as_bytes()), "{f} ~ {s}");
        }
        let no = [
            ("foo", "bar"),
            ("foo", "foo.bar"),
            ("foo.bar", "foo"),
            ("*", "foo.bar"),
            ("foo.*", "foo"),
            ("foo.*", "foo.bar.baz"),
            ("foo.>", "foo"),
            ("*.>", "a"),
            ("foo*.bar", "fooX.bar"),
            ("foo*.bar", "foo.bar"),
            ("foo.>.bar", "foo.x.bar"),
            ("", ""),
            ("foo", ""),
            ("", "foo"),
            ("foo.bar", "foo.*"),
        ];
        for (f, s) in no {
            assert!(!subject_matches(f.as_bytes(), s.as_bytes()), "{f} !~ {s}");
        }
    }
}
