//! nats-server conf format and typed options.
//!
//! tracebus accepts the configuration files and the main command-line flags of
//! nats-server so an existing deployment can switch brokers without rewriting its
//! configuration. The module has three layers:
//!
//! * [`parser`]: the conf-file syntax (blocks, arrays, `=`/`:`/space separators,
//!   `#`/`//` comments, `include`, `$VAR` variables with environment fallback,
//!   size suffixes) into a position-carrying tree ([`Map`]).
//! * [`options`]: that tree into typed [`Options`], rejecting unknown keys, wrong
//!   types and bad values with the file and line of the offending key.
//! * [`cli`]: nats-server's main flags, merged over the file's values.
//!
//! Every failure is a [`ConfigError`], whose `Display` is
//! `<file>:<line>:<col>: <message>` when the error has a place in a file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod cli;
pub mod cluster;
pub mod options;
pub mod parser;
pub mod trust;

pub use cli::Cli;
pub use cluster::{ClusterOptions, RouteUrl};
pub use options::{
    parse_duration, AccountOptions, AuthOptions, ExportKind, ExportOptions, ImportOptions, Options,
    PermissionsOptions, ResponsePermissionOptions, ResponseType, SubjectPermissionOptions,
    UserOptions,
};
pub use parser::{parse_file, parse_str, Item, Map, Value};
pub use trust::{DirResolverOptions, PreloadEntry, ResolverOptions, TrustOptions, TrustedOperator};

/// A place in a configuration file, kept on every parsed item so that errors found
/// long after parsing (when typed options are built) can still point at the line
/// the operator has to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// The file as it was named (the path given by the user, or an include path
    /// joined to the including file's directory). Shared because every item of a
    /// file carries it.
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Pos {
    /// Builds a position; mostly useful for tests and for synthesized items.
    pub fn new(file: impl Into<PathBuf>, line: usize, col: usize) -> Pos {
        Pos {
            file: Arc::new(file.into()),
            line,
            col,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// What went wrong, so callers and tests can react to the class of a failure
/// without matching on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid conf syntax (unterminated string or block, stray
    /// bracket, missing value, ...).
    Syntax,
    /// `$NAME` names neither a variable in scope nor an environment variable.
    UndefinedVariable,
    /// An `include` could not be read, or includes form a cycle.
    Include,
    /// The main configuration file could not be read.
    Io,
    /// A key that nats-server does not know (or tracebus does not know of).
    UnknownKey,
    /// A nats-server key whose feature tracebus does not implement yet.
    Unsupported,
    /// A value of the wrong type (a string where a number is required, ...).
    BadType,
    /// A value of the right type but outside what the option accepts.
    BadValue,
    /// The options are inconsistent as a whole (e.g. a token and a user both set).
    Invalid,
}

/// The error of every configuration step. When `pos` is set, `Display` prefixes
/// the message with `<file>:<line>:<col>: ` like nats-server does, so editors and
/// terminals can jump to the spot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", .pos.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The class of the failure.
    pub kind: ErrorKind,
    /// Where in which file, when the failure belongs to a place in a file.
    pub pos: Option<Pos>,
    /// What is wrong, without the position prefix.
    pub message: String,
}

impl ConfigError {
    /// An error tied to a place in a file.
    pub fn at(kind: ErrorKind, pos: &Pos, message: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            pos: Some(pos.clone()),
            message: message.into(),
        }
    }

    /// An error that belongs to no single place (whole-options checks, flags).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            pos: None,
            message: message.into(),
        }
    }

    /// The file the error points into, if any.
    pub fn file(&self) -> Option<&Path> {
        self.pos.as_ref().map(|p| p.file.as_path())
    }

    /// The 1-based line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.pos.as_ref().map(|p| p.line)
    }
}
