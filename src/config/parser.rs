//! Lexer and parser for the nats-server configuration format.
//!
//! No crate parses this format, and tracebus promises to accept nats-server's
//! files, so this is a hand-written recursive-descent parser. It produces a tree of
//! [`Item`]s that each remember where they came from, because most errors (unknown
//! keys, wrong types) are only found later, when [`super::Options`] is built.
//!
//! The syntax, as nats-server 2.9 accepts it (checked with `nats-server -t`):
//!
//! * `key: value`, `key = value` and `key value`; an entry ends at a new line, `,`
//!   or `;`. Keys may be quoted (`"key"` or `'key'`).
//! * Blocks `key { ... }`, `key: { ... }`, `key = { ... }`; arrays `[a, b, c]` whose
//!   elements are separated by `,` or new lines (a trailing `,` is allowed).
//! * Comments start with `#` or `//` where a token may start.
//! * Strings: `"..."` with the escapes `\t \n \r \" \\ \xHH`; `'...'` taken
//!   literally; bare words (`0.0.0.0`, `nats-route://a:1`), which end at white
//!   space, `,`, `;`, `}` or `]`; block strings `key (` ... a line starting with `)`.
//! * Integers, optionally with a size suffix, case-insensitive: `k m g t p e` are
//!   powers of 1000, `kb mb gb ...` and `ki mi gi ...`/`kib mib gib ...` powers of
//!   1024 (nats-server: `1K` = 1000, `1KB` = 1024). Floats `1.5`. Booleans `true
//!   false yes no on off`, case-insensitive. Other bare words are strings.
//! * `include path` merges the keys of another file (path relative to the including
//!   file) into the current block. The included file is parsed on its own: it does
//!   not see the includer's variables, but the includer sees its keys afterwards.
//! * `NAME = value` at any level defines a variable usable below it, in the same
//!   block or nested ones, as `$NAME` (case-sensitive). An unknown name falls back
//!   to the environment variable of that name, whose text is parsed as a value.
//!   `"$NAME"` in quotes is a plain string. A key used as a variable is recorded in
//!   [`Map::used_variables`] so option processing does not report it as unknown.
//! * A whole file may also be wrapped in `{ ... }` (JSON-style configs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ConfigError, ErrorKind, Pos};

/// How deeply includes may nest; a guard against runaway include chains.
const MAX_INCLUDE_DEPTH: usize = 32;
/// How deeply blocks and arrays may nest; a guard against stack exhaustion on
/// hostile or broken input.
const MAX_NESTING: usize = 128;

/// A parsed value. Sizes with suffixes are already multiplied out into
/// [`Value::Integer`]; durations stay strings because only the option knows that
/// `"30s"` is meant as a duration.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Quoted, block or bare string.
    String(String),
    /// Integer, suffixes applied (`1KB` is `1024`).
    Integer(i64),
    /// Decimal number such as `0.5`.
    Float(f64),
    /// `true/false/yes/no/on/off`.
    Bool(bool),
    /// `[ ... ]`.
    Array(Vec<Item>),
    /// `{ ... }` or a whole file.
    Map(Map),
}

impl Value {
    /// A short name for the type, used in "must be X, got Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Array(_) => "array",
            Value::Map(_) => "block",
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The block, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The array elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Item]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A value and where it was written. For a block entry, `pos` is the position of
/// the entry's key (that is what an error about the entry should point at); for an
/// array element or a variable reference it is where the value itself starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The value.
    pub value: Value,
    /// Where it was written (see the type's docs for which spot).
    pub pos: Pos,
}

/// A block: entries in file order. Duplicate keys are kept (an `include` or a later
/// line may repeat a key); like nats-server, the last one wins ([`Map::get`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Map {
    /// `(key, item)` in the order written, includes merged at the `include` line.
    pub entries: Vec<(String, Item)>,
    /// Keys of this block that were referenced as `$NAME`: they are variable
    /// definitions, so option processing does not report them as unknown keys.
    pub used_variables: BTreeSet<String>,
}

impl Map {
    /// An empty block.
    pub fn new() -> Map {
        Map::default()
    }

    /// The last entry with exactly this key (keys are case-sensitive here; option
    /// processing decides about case).
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, item)| item)
    }

    /// Whether `key` was used as a `$variable` somewhere below its definition.
    pub fn is_used_variable(&self, key: &str) -> bool {
        self.used_variables.contains(key)
    }

    /// The entries as options see them: of repeated keys only the last occurrence
    /// remains (file order is otherwise kept), which is how nats-server's
    /// map-based reading behaves. Used variables are included, because a key that
    /// is both a variable and a known option (`max_payload: 2KB` then
    /// `max_control_line: $max_payload`) still sets that option in nats-server;
    /// callers skip a used variable only where they would report an unknown key.
    pub fn option_entries(&self) -> Vec<(&str, &Item)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| !self.entries[i + 1..].iter().any(|(k2, _)| k2 == k))
            .map(|(_, (k, item))| (k.as_str(), item))
            .collect()
    }

    /// Number of entries (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Reads and parses a configuration file. Errors name `path` as given, so they
/// read like the operator's own command line.
pub fn parse_file(path: &Path) -> Result<Map, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            ErrorKind::Io,
            format!("cannot read config file \"{}\": {e}", path.display()),
        )
    })?;
    parse_str(&text, path)
}

/// Parses configuration text. `origin` is the file the text came from (or a name
/// for it): it prefixes error messages and relative `include` paths are resolved
/// against its directory.
pub fn parse_str(text: &str, origin: &Path) -> Result<Map, ConfigError> {
    let mut includes = Vec::new();
    if let Ok(canonical) = std::fs::canonicalize(origin) {
        includes.push(canonical);
    }
    parse_text(text, origin, &mut includes)
}

fn parse_text(text: &str, origin: &Path, includes: &mut Vec<PathBuf>) -> Result<Map, ConfigError> {
    let mut p = Parser::new(text, origin, includes, false);
    p.parse_document()
}

/// The parser state for one file (or one environment variable's value).
struct Parser<'c> {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    file: Arc<PathBuf>,
    base_dir: PathBuf,
    /// Blocks being built, innermost last; variables are looked up through them.
    scopes: Vec<Map>,
    /// Canonical paths of the files being read, for include-cycle detection.
    includes: &'c mut Vec<PathBuf>,
    /// Parsing the text of an environment variable: no variables, no includes.
    env_mode: bool,
    depth: usize,
}

fn is_value_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ';' | '}' | ']')
}

fn is_key_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, ':' | '=' | '{' | '}' | '[' | ']' | ',' | ';')
}

/// Multiplier of a size suffix (lower-cased), nats-server's set.
fn size_multiplier(suffix: &str) -> Option<i64> {
    let (base, rest): (i64, &str) = match suffix.as_bytes().first()? {
        b'k' => (1, &suffix[1..]),
        b'm' => (2, &suffix[1..]),
        b'g' => (3, &suffix[1..]),
        b't' => (4, &suffix[1..]),
        b'p' => (5, &suffix[1..]),
        b'e' => (6, &suffix[1..]),
        _ => return None,
    };
    let unit: i64 = match rest {
        "" => 1000,
        "b" | "i" | "ib" => 1024,
        _ => return None,
    };
    Some(unit.pow(base as u32))
}

impl<'c> Parser<'c> {
    fn new(text: &str, origin: &Path, includes: &'c mut Vec<PathBuf>, env_mode: bool) -> Self {
        let base_dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut chars: Vec<char> = text.chars().collect();
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        Parser {
            chars,
            i: 0,
            line: 1,
            col: 1,
            file: Arc::new(origin.to_path_buf()),
            base_dir,
            scopes: Vec::new(),
            includes,
            env_mode,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    fn syntax(&self, pos: &Pos, msg: impl Into<String>) -> ConfigError {
        ConfigError::at(ErrorKind::Syntax, pos, msg)
    }

    fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek_at(1) == Some('/'),
            _ => false,
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Spaces and tabs (and `\r`), staying on the current line.
    fn skip_inline_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' || !c.is_whitespace() {
                break;
            }
            self.bump();
        }
    }

    /// White space, new lines and comments; with `separators`, also stray `,`/`;`
    /// between block entries (nats-server accepts `port: 4;;`).
    fn skip_blank(&mut self, separators: bool) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some(',' | ';') if separators => {
                    self.bump();
                }
                Some(_) if self.at_comment() => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn char_desc(c: Option<char>) -> String {
        match c {
            None => "end of file".to_string(),
            Some('\n') => "end of line".to_string(),
            Some(c) => format!("'{c}'"),
        }
    }

    fn parse_document(&mut self) -> Result<Map, ConfigError> {
        self.skip_blank(false);
        self.scopes.push(Map::new());
        if self.peek() == Some('{') {
            // A file written as one JSON-like object.
            let open = self.pos();
            self.bump();
            self.parse_body(Some(&open))?;
            self.skip_blank(true);
            if let Some(c) = self.peek() {
                let pos = self.pos();
                return Err(self.syntax(
                    &pos,
                    format!("unexpected '{c}' after the closing '}}' of the top-level block"),
                ));
            }
        } else {
            self.parse_body(None)?;
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// Entries into the innermost scope until `}` (when `open` is the position of
    /// the block's `{`) or end of file (top level).
    fn parse_body(&mut self, open: Option<&Pos>) -> Result<(), ConfigError> {
        loop {
            self.skip_blank(true);
            match self.peek() {
                None => {
                    return match open {
                        None => Ok(()),
                        Some(open) => Err(self.syntax(
                            open,
                            "unterminated block: this '{' is never closed (reached end of file)",
                        )),
                    };
                }
                Some('}') => {
                    if open.is_some() {
                        self.bump();
                        return Ok(());
                    }
                    let pos = self.pos();
                    return Err(self.syntax(&pos, "unexpected '}' without a matching '{'"));
                }
                Some(_) => self.parse_entry()?,
            }
        }
    }

    fn parse_entry(&mut self) -> Result<(), ConfigError> {
        let key_pos = self.pos();
        let (key, quoted) = self.parse_key()?;
        if !quoted
            && key == "include"
            && matches!(self.peek(), Some(c) if c != '\n' && c.is_whitespace())
        {
            self.skip_inline_ws();
            // `include: x` / `include = x` is an ordinary key, as in nats-server.
            if !matches!(self.peek(), Some(':' | '=')) {
                self.parse_include(&key_pos)?;
                return self.end_of_entry("include");
            }
        }
        self.skip_inline_ws();
        if matches!(self.peek(), Some(':' | '=')) {
            self.bump();
            self.skip_inline_ws();
        }
        let missing = match self.peek() {
            None | Some('\n' | ',' | ';' | '}' | ']') => true,
            Some(_) => self.at_comment(),
        };
        if missing {
            return Err(self.syntax(
                &key_pos,
                format!(
                    "expected a value for key \"{key}\" but found {}",
                    Self::char_desc(self.peek())
                ),
            ));
        }
        let value = self.parse_value()?.value;
        self.current_scope().entries.push((
            key.clone(),
            Item {
                value,
                pos: key_pos,
            },
        ));
        self.end_of_entry(&key)
    }

    fn current_scope(&mut self) -> &mut Map {
        if self.scopes.is_empty() {
            self.scopes.push(Map::new());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    fn parse_key(&mut self) -> Result<(String, bool), ConfigError> {
        match self.peek() {
            Some('"') => Ok((self.parse_double_quoted()?, true)),
            Some('\'') => Ok((self.parse_single_quoted()?, true)),
            Some(c) if is_key_char(c) => {
                let mut key = String::new();
                while let Some(c) = self.peek() {
                    if !is_key_char(c) {
                        break;
                    }
                    key.push(c);
                    self.bump();
                }
                Ok((key, false))
            }
            c => {
                let pos = self.pos();
                Err(self.syntax(
                    &pos,
                    format!("expected a key but found {}", Self::char_desc(c)),
                ))
            }
        }
    }

    /// After a value: the entry must end here (new line, `,`, `;`, comment, `}` of
    /// the enclosing block, or end of file).
    fn end_of_entry(&mut self, key: &str) -> Result<(), ConfigError> {
        self.skip_inline_ws();
        match self.peek() {
            None | Some('}') => Ok(()),
            Some('\n' | ',' | ';') => {
                self.bump();
                Ok(())
            }
            Some(_) if self.at_comment() => Ok(()),
            c => {
                let pos = self.pos();
                Err(self.syntax(
                    &pos,
                    format!(
                        "unexpected {} after the value of \"{key}\" (expected a new line, ',' or ';')",
                        Self::char_desc(c)
                    ),
                ))
            }
        }
    }

    fn enter(&mut self, pos: &Pos) -> Result<(), ConfigError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.syntax(
                pos,
                format!("blocks and arrays nest deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn parse_value(&mut self) -> Result<Item, ConfigError> {
        let pos = self.pos();
        let value = match self.peek() {
            Some('{') => {
                self.enter(&pos)?;
                self.bump();
                self.scopes.push(Map::new());
                let body = self.parse_body(Some(&pos));
                let map = self.scopes.pop().unwrap_or_default();
                body?;
                self.depth -= 1;
                Value::Map(map)
            }
            Some('[') => {
                self.enter(&pos)?;
                let array = self.parse_array(&pos)?;
                self.depth -= 1;
                Value::Array(array)
            }
            Some('"') => Value::String(self.parse_double_quoted()?),
            Some('\'') => Value::String(self.parse_single_quoted()?),
            Some('(') if self.block_string_starts() => {
                Value::String(self.parse_block_string(&pos)?)
            }
            Some('$') => return self.parse_variable(pos),
            _ => {
                let token = self.bare_token();
                classify(&token, &pos)?
            }
        };
        Ok(Item { value, pos })
    }

    fn bare_token(&mut self) -> String {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            if is_value_end(c) {
                break;
            }
            token.push(c);
            self.bump();
        }
        token
    }

    fn parse_array(&mut self, open: &Pos) -> Result<Vec<Item>, ConfigError> {
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_blank(false);
            match self.peek() {
                None => {
                    return Err(self.syntax(
                        open,
                        "unterminated array: this '[' is never closed (reached end of file)",
                    ))
                }
                Some(']') => {
                    self.bump();
                    return Ok(items);
                }
                Some(c @ (',' | ';' | '}')) => {
                    let pos = self.pos();
                    return Err(self.syntax(
                        &pos,
                        format!("expected an array element or ']' but found '{c}'"),
                    ));
                }
                Some(_) => {
                    items.push(self.parse_value()?);
                    self.skip_inline_ws();
                    match self.peek() {
                        Some(',' | '\n') => {
                            self.bump();
                        }
                        Some(']') | None => {}
                        Some(_) if self.at_comment() => self.skip_comment(),
                        c => {
                            let pos = self.pos();
                            return Err(self.syntax(
                                &pos,
                                format!(
                                    "expected ',', a new line or ']' after an array element but found {}",
                                    Self::char_desc(c)
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }

    fn parse_double_quoted(&mut self) -> Result<String, ConfigError> {
        let open = self.pos();
        self.bump(); // '"'
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let esc_pos = self.pos();
            match self.bump() {
                None => {
                    return Err(self.syntax(
                        &open,
                        "unterminated string: this '\"' is never closed (reached end of file)",
                    ))
                }
                Some('"') => break,
                Some('\\') => {
                    let c = self.bump();
                    match c {
                        Some('t') => bytes.push(b'\t'),
                        Some('n') => bytes.push(b'\n'),
                        Some('r') => bytes.push(b'\r'),
                        Some('"') => bytes.push(b'"'),
                        Some('\\') => bytes.push(b'\\'),
                        Some('x') => {
                            let hex: String = [self.bump(), self.bump()].iter().flatten().collect();
                            match u8::from_str_radix(&hex, 16) {
                                Ok(b) if hex.len() == 2 => bytes.push(b),
                                _ => {
                                    return Err(self.syntax(
                                        &esc_pos,
                                        format!("expected two hexadecimal digits after '\\x' but found \"{hex}\""),
                                    ))
                                }
                            }
                        }
                        other => {
                            return Err(self.syntax(
                                &esc_pos,
                                format!(
                                    "invalid escape {} in string (allowed: \\t \\n \\r \\\" \\\\ \\xHH)",
                                    match other {
                                        Some(c) => format!("'\\{c}'"),
                                        None => "at end of file".to_string(),
                                    }
                                ),
                            ))
                        }
                    }
                }
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        String::from_utf8(bytes).map_err(|_| {
            self.syntax(
                &open,
                "string is not valid UTF-8 once its \\x escapes are applied",
            )
        })
    }

    fn parse_single_quoted(&mut self) -> Result<String, ConfigError> {
        let open = self.pos();
        self.bump(); // '\''
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.syntax(
                        &open,
                        "unterminated string: this '\\'' is never closed (reached end of file)",
                    ))
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    /// `(` followed by nothing but white space up to the end of the line.
    fn block_string_starts(&self) -> bool {
        let mut j = self.i + 1;
        while let Some(&c) = self.chars.get(j) {
            if c == '\n' {
                return true;
            }
            if !c.is_whitespace() {
                return false;
            }
            j += 1;
        }
        false
    }

    /// Everything after `(` up to a line that starts with `)`, kept verbatim (as
    /// nats-server does, the text keeps its first and last new line).
    fn parse_block_string(&mut self, open: &Pos) -> Result<String, ConfigError> {
        self.bump(); // '('
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.syntax(
                        open,
                        "unterminated block string: no line starting with ')' closes this '('",
                    ))
                }
                Some('\n') => {
                    s.push('\n');
                    if self.peek() == Some(')') {
                        self.bump();
                        return Ok(s);
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn parse_variable(&mut self, pos: Pos) -> Result<Item, ConfigError> {
        self.bump(); // '$'
        let name = self.bare_token();
        if name.is_empty() {
            return Err(self.syntax(&pos, "expected a variable name after '$'"));
        }
        if self.env_mode {
            return Err(self.syntax(
                &pos,
                format!("variable reference ${name} is not allowed inside an environment variable's value"),
            ));
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(item) = scope.get(&name) {
                let value = item.value.clone();
                scope.used_variables.insert(name);
                return Ok(Item { value, pos });
            }
        }
        match std::env::var(&name) {
            Ok(text) => {
                let value = self.parse_env_value(&name, &text, &pos)?;
                Ok(Item { value, pos })
            }
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::at(
                ErrorKind::BadValue,
                &pos,
                format!("environment variable {name} (used as ${name}) is not valid UTF-8"),
            )),
            Err(std::env::VarError::NotPresent) => Err(ConfigError::at(
                ErrorKind::UndefinedVariable,
                &pos,
                format!(
                    "variable reference ${name} is undefined: no variable \"{name}\" is defined above it in this file and there is no such environment variable"
                ),
            )),
        }
    }

    /// An environment variable's text is parsed as one value (so `4222` is an
    /// integer and `"a b"` a string), like nats-server does.
    fn parse_env_value(&mut self, name: &str, text: &str, pos: &Pos) -> Result<Value, ConfigError> {
        let wrap = |e: ConfigError| {
            ConfigError::at(
                ErrorKind::BadValue,
                pos,
                format!(
                    "environment variable {name} (used as ${name}) could not be parsed as a value: {}",
                    e.message
                ),
            )
        };
        let mut sub = Parser::new(text, &self.file, self.includes, true);
        sub.skip_inline_ws();
        if sub.peek().is_none() {
            return Ok(Value::String(String::new()));
        }
        let mut value = sub.parse_value().map_err(wrap)?.value;
        sub.skip_blank(false);
        if let Some(c) = sub.peek() {
            let at = sub.pos();
            return Err(wrap(
                sub.syntax(&at, format!("unexpected '{c}' after the value")),
            ));
        }
        relocate(&mut value, pos);
        Ok(value)
    }

    fn parse_include(&mut self, key_pos: &Pos) -> Result<(), ConfigError> {
        let raw = match self.peek() {
            Some('"') => self.parse_double_quoted()?,
            Some('\'') => self.parse_single_quoted()?,
            _ => self.bare_token(),
        };
        if raw.is_empty() {
            return Err(self.syntax(key_pos, "include needs a file path"));
        }
        if self.env_mode {
            return Err(self.syntax(key_pos, "include is not allowed here"));
        }
        let path = self.base_dir.join(&raw);
        let include_err = |msg: String| ConfigError::at(ErrorKind::Include, key_pos, msg);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            include_err(format!(
                "cannot read include file \"{raw}\" ({}): {e}",
                path.display()
            ))
        })?;
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.includes.contains(&canonical) {
            return Err(include_err(format!(
                "include cycle: \"{}\" is already being read",
                path.display()
            )));
        }
        if self.includes.len() >= MAX_INCLUDE_DEPTH {
            return Err(include_err(format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} files"
            )));
        }
        self.includes.push(canonical);
        let parsed = parse_text(&text, &path, self.includes);
        self.includes.pop();
        let parsed = parsed.map_err(|mut e| {
            if matches!(e.kind, ErrorKind::Syntax | ErrorKind::UndefinedVariable) {
                e.message = format!("{} (in a file included from {key_pos})", e.message);
            }
            e
        })?;
        let scope = self.current_scope();
        scope.entries.extend(parsed.entries);
        scope.used_variables.extend(parsed.used_variables);
        Ok(())
    }
}

/// Points every item of a value at `pos` (used for values parsed out of an
/// environment variable, whose own positions would be meaningless).
fn relocate(value: &mut Value, pos: &Pos) {
    match value {
        Value::Array(items) => {
            for item in items {
                item.pos = pos.clone();
                relocate(&mut item.value, pos);
            }
        }
        Value::Map(map) => {
            for (_, item) in &mut map.entries {
                item.pos = pos.clone();
                relocate(&mut item.value, pos);
            }
        }
        _ => {}
    }
}

/// Decides what a bare word is: boolean, integer (with size suffix), float, or
/// else a string (`1.2.3.4`, `nats://a:1`, `1x`).
fn classify(token: &str, pos: &Pos) -> Result<Value, ConfigError> {
    let lower = token.to_ascii_lowercase();
    match lower.as_str() {
        "true" | "yes" | "on" => return Ok(Value::Bool(true)),
        "false" | "no" | "off" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let unsigned = lower.strip_prefix('-').unwrap_or(&lower);
    let digits_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return Ok(Value::String(token.to_string()));
    }
    let sign_len = lower.len() - unsigned.len();
    let number = &lower[..sign_len + digits_len];
    let rest = &unsigned[digits_len..];
    let out_of_range = || {
        ConfigError::at(
            ErrorKind::BadValue,
            pos,
            format!("integer {token} is out of range"),
        )
    };
    if rest.is_empty() {
        return number
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| out_of_range());
    }
    if let Some(frac) = rest.strip_prefix('.') {
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(f) = lower.parse::<f64>() {
                return Ok(Value::Float(f));
            }
        }
        return Ok(Value::String(token.to_string()));
    }
    match size_multiplier(rest) {
        Some(mult) => number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(Value::Integer)
            .ok_or_else(out_of_range),
        None => Ok(Value::String(token.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Map {
        parse_str(text, Path::new("t.conf")).unwrap()
    }

    fn err(text: &str) -> ConfigError {
        parse_str(text, Path::new("t.conf")).unwrap_err()
    }

    #[test]
    fn size_suffixes_follow_nats_server() {
        let m = parse("a: 1k\nb: 1KB\nc: 2Ki\nd: 1mib\ne: 1G\nf: -5k\ng: 1T\n");
        let v = |k: &str| m.get(k).unwrap().value.as_i64().unwrap();
        assert_eq!(v("a"), 1000);
        assert_eq!(v("b"), 1024);
        assert_eq!(v("c"), 2048);
        assert_eq!(v("d"), 1 << 20);
        assert_eq!(v("e"), 1_000_000_000);
        assert_eq!(v("f"), -5000);
        assert_eq!(v("g"), 1_000_000_000_000);
    }

    #[test]
    fn bare_words_that_are_not_numbers_are_strings() {
        let m = parse("a: 1.2.3.4\nb: 1x\nc: nats-route://u:p@h:1\nd: 1b\n");
        for (k, s) in [
            ("a", "1.2.3.4"),
            ("b", "1x"),
            ("c", "nats-route://u:p@h:1"),
            ("d", "1b"),
        ] {
            assert_eq!(m.get(k).unwrap().value, Value::String(s.into()));
        }
    }

    #[test]
    fn positions_are_one_based() {
        let m = parse("\n\n   port: 4\n");
        let pos = &m.get("port").unwrap().pos;
        assert_eq!((pos.line, pos.col), (3, 4));
    }

    #[test]
    fn integer_overflow_is_an_error() {
        let e = err("a: 99999999999999999999\n");
        assert_eq!(e.kind, ErrorKind::BadValue);
        let e = err("a: 10000000E\n");
        assert_eq!(e.kind, ErrorKind::BadValue);
    }

    #[test]
    fn block_string_is_verbatim() {
        let m = parse("a (\n  x\n y\n)\nb: 1\n");
        assert_eq!(
            m.get("a").unwrap().value,
            Value::String("\n  x\n y\n".into())
        );
        assert_eq!(m.get("b").unwrap().value, Value::Integer(1));
    }

    #[test]
    fn json_style_top_level_object() {
        let m = parse("{\"port\": 4222, \"authorization\": {\"user\": \"a\"}}\n");
        assert_eq!(m.get("port").unwrap().value, Value::Integer(4222));
        assert!(m.get("authorization").unwrap().value.as_map().is_some());
    }

    #[test]
    fn stray_closers_are_errors() {
        assert_eq!(err("port: 4\n}\n").kind, ErrorKind::Syntax);
        assert_eq!(err("port: 4\n]\n").kind, ErrorKind::Syntax);
        assert_eq!(err("a = [1 2]\n").kind, ErrorKind::Syntax);
        assert_eq!(err("port: 4 5\n").kind, ErrorKind::Syntax);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("a: {}", "[".repeat(1000));
        assert_eq!(err(&text).kind, ErrorKind::Syntax);
    }

    #[test]
    fn option_entries_keep_only_the_last_duplicate() {
        let m = parse("V = 5\nport: 1\nport: $V\nunused = 3\n");
        assert!(m.is_used_variable("V"));
        let keys: Vec<&str> = m.option_entries().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["V", "port", "unused"]);
        assert_eq!(m.get("port").unwrap().value, Value::Integer(5));
    }
}
