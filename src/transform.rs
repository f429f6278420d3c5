//! Subject transforms: how an import renames subjects between two accounts.
//!
//! A stream import delivers the exporter's message `trace.web.log` into the
//! importer's subject space as, say, `a.trace.web.log` (`prefix: a`) or
//! `web.log` (`to: "*.log"` for the import subject `trace.*.log`). A service
//! import maps the importer's local request subject onto the exporter's.
//!
//! A transform is built once from a source filter and a destination pattern and
//! then applied to literal subjects that match the source, writing into a
//! caller-owned buffer (no allocation on the message path). Destination tokens:
//!
//! * a literal token is copied;
//! * `*` takes the source's wildcard tokens in order (the first `*` of the
//!   destination is the first `*` of the source, and so on); the destination
//!   must then use every source `*` exactly once, in order;
//! * `$N` or `{{wildcard(N)}}` takes the N-th (1-based) source `*` token, in any
//!   order, any number of times; a destination that uses references may not also
//!   use positional `*`;
//! * `>` (last) takes everything the source's `>` matched. A source with `>`
//!   needs a destination with `>` and the other way round (nats-server refuses
//!   `x.>` to `q` and to `q.*` too).
//!
//! Pure and I/O-free like [`crate::subject`]; the configuration checks transforms
//! at start-up with the same code the server runs.

use crate::subject::{is_valid_subject, tokens};

/// Why a transform cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The source is not a valid subject filter.
    #[error("\"{0}\" is not a valid subject")]
    BadSource(String),
    /// The destination is malformed or does not fit the source.
    #[error("cannot map \"{src}\" to \"{dest}\": {why}")]
    BadDestination {
        src: String,
        dest: String,
        why: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A literal destination token.
    Literal(Box<[u8]>),
    /// The subject token at this (0-based) token index, where the source has a `*`.
    Token(usize),
    /// Every subject token from this index on (what the source's `>` matched).
    Rest(usize),
}

/// A compiled mapping from subjects matching `source` to new subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTransform {
    source: Box<[u8]>,
    parts: Vec<Part>,
    /// Shortcut: destination equals the subject (no rename at all).
    identity: bool,
}

impl SubjectTransform {
    /// The transform that leaves subjects as they are.
    pub fn identity(source: &str) -> Result<Self, TransformError> {
        if !is_valid_subject(source.as_bytes()) {
            return Err(TransformError::BadSource(source.to_string()));
        }
        Ok(SubjectTransform {
            source: source.as_bytes().into(),
            parts: Vec::new(),
            identity: true,
        })
    }

    /// Prepends `prefix` and a `.` (unless `prefix` already ends with one), the
    /// meaning of a stream import's `prefix`.
    pub fn with_prefix(source: &str, prefix: &str) -> Result<Self, TransformError> {
        let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
        Self::new(source, &format!("{prefix}.{source}"))
    }

    /// Compiles the mapping `source` → `dest` (see the module docs for the rules).
    pub fn new(source: &str, dest: &str) -> Result<Self, TransformError> {
        if !is_valid_subject(source.as_bytes()) {
            return Err(TransformError::BadSource(source.to_string()));
        }
        let bad = |why: &'static str| TransformError::BadDestination {
            src: source.to_string(),
            dest: dest.to_string(),
            why,
        };
        // Where the source's wildcards sit, by token index.
        let mut stars = Vec::new();
        let mut fwc = None;
        for (i, t) in tokens(source.as_bytes()).enumerate() {
            match t {
                b"*" => stars.push(i),
                b">" => fwc = Some(i),
                _ => {}
            }
        }
        if dest.is_empty() {
            return Err(bad("the destination is empty"));
        }
        let dest_tokens: Vec<&str> = dest.split('.').collect();
        let mut parts = Vec::with_capacity(dest_tokens.len());
        let mut positional = 0usize;
        let mut uses_refs = false;
        for (i, tok) in dest_tokens.iter().enumerate() {
            let last = i + 1 == dest_tokens.len();
            if tok.is_empty() {
                return Err(bad("the destination is not a valid subject"));
            }
            if *tok == ">" {
                if !last {
                    return Err(bad("`>` must be the last token"));
                }
                let Some(at) = fwc else {
                    return Err(bad("the destination has `>` but the source has none"));
                };
                parts.push(Part::Rest(at));
            } else if *tok == "*" {
                let Some(&at) = stars.get(positional) else {
                    return Err(bad("the destination has more `*` than the source"));
                };
                positional += 1;
                parts.push(Part::Token(at));
            } else if let Some(n) = wildcard_reference(tok) {
                let n = n.ok_or_else(|| bad("a wildcard reference is malformed"))?;
                let Some(&at) = n.checked_sub(1).and_then(|k| stars.get(k)) else {
                    return Err(bad(
                        "a wildcard reference names a `*` the source does not have",
                    ));
                };
                uses_refs = true;
                parts.push(Part::Token(at));
            } else if tok.chars().any(char::is_whitespace) {
                return Err(bad("the destination is not a valid subject"));
            } else {
                parts.push(Part::Literal(tok.as_bytes().into()));
            }
        }
        if uses_refs && positional > 0 {
            return Err(bad("do not mix `*` with $N / {{wildcard(N)}} references"));
        }
        if !uses_refs && positional != stars.len() {
            return Err(bad("the destination must use every `*` of the source"));
        }
        if fwc.is_some() && !matches!(parts.last(), Some(Part::Rest(_))) {
            return Err(bad(
                "the source has `>`, so the destination must end with `>`",
            ));
        }
        let identity = dest == source;
        Ok(SubjectTransform {
            source: source.as_bytes().into(),
            parts,
            identity,
        })
    }

    /// The source filter.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// Whether subjects come out unchanged.
    pub fn is_identity(&self) -> bool {
        self.identity
    }

    /// Writes the mapped form of `subject` (a literal subject that matches the
    /// source) into `out`, replacing its contents.
    pub fn apply(&self, subject: &[u8], out: &mut Vec<u8>) {
        out.clear();
        if self.identity {
            out.extend_from_slice(subject);
            return;
        }
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            match part {
                Part::Literal(t) => out.extend_from_slice(t),
                Part::Token(at) => {
                    if let Some(t) = tokens(subject).nth(*at) {
                        out.extend_from_slice(t);
                    }
                }
                Part::Rest(at) => out.extend_from_slice(rest_from(subject, *at)),
            }
        }
    }
}

/// `$N` or `{{wildcard(N)}}` (case-insensitive, spaces allowed inside the braces):
/// `None` if `tok` is neither form, `Some(None)` if it looks like one but is
/// malformed, `Some(Some(n))` otherwise.
fn wildcard_reference(tok: &str) -> Option<Option<usize>> {
    if let Some(n) = tok.strip_prefix('$') {
        return Some(n.parse().ok());
    }
    let inner = tok.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.trim().to_ascii_lowercase();
    let arg = inner
        .strip_prefix("wildcard")
        .map(str::trim_start)
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'));
    Some(arg.and_then(|a| a.trim().parse().ok()))
}

/// The part of `subject` from token index `at` on (empty if it has fewer tokens).
fn rest_from(subject: &[u8], at: usize) -> &[u8] {
    let mut start = 0;
    for _ in 0..at {
        match memchr::memchr(b'.', &subject[start..]) {
            Some(i) => start += i + 1,
            None => return &[],
        }
    }
    &subject[start..]
}

/// Is every subject matched by filter `sub` also matched by filter `sup`?
/// (`x.y` and `x.*` are subsets of `x.>`; `x.>` is not a subset of `x.*`.)
/// An import may take any subset of what an export offers.
pub fn is_subset(sub: &[u8], sup: &[u8]) -> bool {
    let mut a = tokens(sub);
    let mut b = tokens(sup);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(_), Some(b">")) => return true,
            (Some(b">"), Some(_)) => return false,
            (Some(b"*"), Some(b"*")) => {}
            (Some(b"*"), Some(_)) => return false,
            (Some(_), Some(b"*")) => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(src: &str, dest: &str, subject: &str) -> String {
        let t = SubjectTransform::new(src, dest).unwrap();
        let mut out = Vec::new();
        t.apply(subject.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn positional_and_references() {
        assert_eq!(map("trace.>", "t.>", "trace.a.b"), "t.a.b");
        assert_eq!(map("trace.*.y", "m.$1", "trace.x.y"), "m.x");
        assert_eq!(map("a.*.*", "b.*.*", "a.1.2"), "b.1.2");
        assert_eq!(map("a.*.*", "b.$2.$1", "a.1.2"), "b.2.1");
        assert_eq!(
            map("a.*.*", "b.{{wildcard(2)}}.{{ Wildcard( 1 ) }}", "a.1.2"),
            "b.2.1"
        );
        assert_eq!(map("a.*.>", "b.*.>", "a.1.2.3"), "b.1.2.3");
        assert_eq!(map("svc.time", "time", "svc.time"), "time");
        let p = SubjectTransform::with_prefix("trace.>", "a").unwrap();
        let mut out = Vec::new();
        p.apply(b"trace.x.y", &mut out);
        assert_eq!(out, b"a.trace.x.y");
        let p = SubjectTransform::with_prefix("x", "pre.").unwrap();
        p.apply(b"x", &mut out);
        assert_eq!(out, b"pre.x");
        let id = SubjectTransform::identity("a.>").unwrap();
        id.apply(b"a.b", &mut out);
        assert_eq!(out, b"a.b");
    }

    #[test]
    fn refused_destinations() {
        for (src, dest) in [
            ("x.>", "q.*"),
            ("x.>", "q"),
            ("x", "q.>"),
            ("x.*", "q"),
            ("x.*", "q.*.*"),
            ("x.*", "q.$2"),
            ("x.*", "q.$0"),
            ("x.*.*", "q.*.$1"),
            ("x.*", "q..r"),
            ("x.>", "q.>.r"),
            ("x", ""),
            ("x", "{{wildcard(x)}}"),
        ] {
            assert!(SubjectTransform::new(src, dest).is_err(), "{src} -> {dest}");
        }
        assert!(SubjectTransform::new("a..b", "c").is_err());
    }

    #[test]
    fn subsets() {
        assert!(is_subset(b"x.y", b"x.>"));
        assert!(is_subset(b"x.*", b"x.>"));
        assert!(is_subset(b"x.*", b"x.*"));
        assert!(is_subset(b"x.y", b"x.*"));
        assert!(is_subset(b"x.>", b"x.>"));
        assert!(is_subset(b"x.>", b">"));
        assert!(!is_subset(b"x.>", b"x.*"));
        assert!(!is_subset(b"x.>", b"x.y"));
        assert!(!is_subset(b"x.*", b"x.y"));
        assert!(!is_subset(b">", b"x.>"));
        assert!(!is_subset(b"x", b"x.>"));
        assert!(!is_subset(b"x.y.z", b"x.*"));
        assert!(!is_subset(b"x.y", b"x.y.z"));
    }
}
