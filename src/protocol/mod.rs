//! Pure byte-level protocol parsers and writers.
//!
//! Nothing here does I/O or knows about tokio, so every parser can be tested and
//! fuzzed with plain byte slices:
//! - [`client`]: the client protocol (PUB, HPUB, SUB, UNSUB, PING, PONG, CONNECT,
//!   INFO, +OK, -ERR in; MSG, HMSG, INFO, -ERR, +OK, PING, PONG out);
//! - [`connect`]: the CONNECT JSON options;
//! - [`info`]: the server INFO JSON.
//!
//! The cluster (route) protocol gets its own sibling module `route`.

pub mod client;
pub mod connect;
pub mod info;
mod lex;
pub mod route;

pub use client::{
    parse, write_err, write_hmsg, write_info, write_msg, write_u64, ArgOp, ClientOp, Limits,
    ParseError, Parsed, NO_RESPONDERS_HDR, OK, PING, PONG,
};
pub use connect::{parse_connect, ConnectError, ConnectInfo};
pub use info::{parse_info, ServerInfo};

use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Decodes a JSON object into `T` the way Go's `encoding/json` (and therefore
/// nats-server) decodes into a struct, because clients meet that behaviour:
/// a top-level `null` yields the defaults; keys match field names ignoring ASCII
/// case; a `null` value leaves the field's default; of duplicate keys the last
/// wins; unknown keys are ignored; a value of the wrong type is an error, as is
/// anything but an object or `null` at the top, or trailing non-blank text.
///
/// `fields` lists `T`'s serde field names.
pub(crate) fn decode_like_go<T: DeserializeOwned + Default>(
    json: &[u8],
    fields: &[&'static str],
) -> Result<T, serde_json::Error> {
    let Top(entries) = serde_json::from_slice(json)?;
    let Some(entries) = entries else {
        return Ok(T::default());
    };
    let mut map = Map::new();
    for (key, value) in entries {
        if value.is_null() {
            continue;
        }
        if let Some(field) = fields.iter().find(|f| f.eq_ignore_ascii_case(&key)) {
            map.insert((*field).to_owned(), value);
        }
    }
    T::deserialize(Value::Object(map))
}

/// A top-level JSON value that must be an object (entries in document order, so
/// "last duplicate wins" can be honoured) or `null`.
struct Top(Option<Vec<(String, Value)>>);

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object or null")
            }
            fn visit_unit<E>(self) -> Result<Top, E> {
                Ok(Top(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Top, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Top(Some(entries)))
            }
        }
        d.deserialize_any(V)
    }
}
