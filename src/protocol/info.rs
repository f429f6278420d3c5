//! The server's `INFO` JSON.
//!
//! Field names, their order and which ones are left out when empty match what
//! nats-server 2.9.10 sends (probed), because some clients and tools compare or
//! log the line as is. Written with [`super::client::write_info`].

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The INFO a server sends on accept (with the client's id and address) and
/// again asynchronously (cluster URL changes, lame duck mode).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    /// Highest client protocol the server speaks (1).
    pub proto: i32,
    /// Omitted by nats-server builds without a commit id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Runtime version string (nats-server: the Go version, e.g. `go1.19.8`).
    pub go: String,
    pub host: String,
    pub port: u16,
    /// The server supports HPUB/HMSG.
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Client certificates are verified.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// TLS is offered but not required (`allow_non_tls`).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    /// Left out when 0 (nats-server omits it in non-client INFO).
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    /// Challenge for nkey/JWT users: 11 random bytes, base64url (15 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Cluster name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `host:port` of every cluster member's client listener.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// Lame duck mode: clients should move elsewhere.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
}

/// Serde names of [`ServerInfo`]'s fields, for case-insensitive key matching.
const FIELDS: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "proto",
    "git_commit",
    "go",
    "host",
    "port",
    "headers",
    "auth_required",
    "tls_required",
    "tls_verify",
    "tls_available",
    "max_payload",
    "jetstream",
    "client_id",
    "client_ip",
    "nonce",
    "cluster",
    "connect_urls",
    "ldm",
];

/// Decodes INFO JSON the way nats-server does (Go `encoding/json` rules, see
/// [`super::connect`]). nats-server decodes an `INFO` sent by a *client* and
/// closes the connection without an `-ERR` when that fails (`INFO {nope`,
/// `INFO []`, `INFO {"port":"x"}`); otherwise it ignores it. Only the fields
/// above are type-checked; nats-server also checks some route-only ones.
pub fn parse_info(json: &[u8]) -> Result<ServerInfo, serde_json::Error> {
    super::decode_like_go(json, FIELDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::client::write_info;
    use bytes::BytesMut;

    fn line(info: &ServerInfo) -> String {
        let mut b = BytesMut::new();
        write_info(&mut b, info);
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn base() -> ServerInfo {
        ServerInfo {
            server_id: "NDPL".into(),
            server_name: "NDPL".into(),
            version: "2.9.10".into(),
            proto: 1,
            go: "go1.19.8".into(),
            host: "127.0.0.1".into(),
            port: 14222,
            headers: true,
            max_payload: 1048576,
            client_id: 4,
            client_ip: "127.0.0.1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_line_matches_nats_server() {
        // Shape of nats-server 2.9.10's first line with no options set,
        // including the blank before CRLF.
        assert_eq!(
            line(&base()),
            "INFO {\"server_id\":\"NDPL\",\"server_name\":\"NDPL\",\"version\":\"2.9.10\",\
             \"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":14222,\
             \"headers\":true,\"max_payload\":1048576,\"client_id\":4,\
             \"client_ip\":\"127.0.0.1\"} \r\n"
        );
    }

    #[test]
    fn optional_fields_in_nats_order() {
        let info = ServerInfo {
            git_commit: Some("abc".into()),
            auth_required: true,
            tls_required: true,
            tls_verify: true,
            tls_available: true,
            jetstream: true,
            nonce: Some("2BC5yjkoVAGxAcY".into()),
            cluster: Some("C1".into()),
            connect_urls: vec!["127.0.0.1:14223".into(), "127.0.0.1:14224".into()],
            ldm: true,
            ..base()
        };
        assert_eq!(
            line(&info),
            "INFO {\"server_id\":\"NDPL\",\"server_name\":\"NDPL\",\"version\":\"2.9.10\",\
             \"proto\":1,\"git_commit\":\"abc\",\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\
             \"port\":14222,\"headers\":true,\"auth_required\":true,\"tls_required\":true,\
             \"tls_verify\":true,\"tls_available\":true,\"max_payload\":1048576,\
             \"jetstream\":true,\"client_id\":4,\"client_ip\":\"127.0.0.1\",\
             \"nonce\":\"2BC5yjkoVAGxAcY\",\"cluster\":\"C1\",\
             \"connect_urls\":[\"127.0.0.1:14223\",\"127.0.0.1:14224\"],\"ldm\":true} \r\n"
        );
        let json = serde_json::to_vec(&info).unwrap();
        assert_eq!(parse_info(&json).unwrap(), info);
    }

    #[test]
    fn client_sent_info() {
        for ok in ["{}", "null", r#"{"zz":1}"#, r#"{"a":1}"#, r#"{"PORT":5}"#] {
            assert!(parse_info(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "{nope",
            "[]",
            "5",
            "",
            r#"{"port":"x"}"#,
            r#"{"ldm":"x"}"#,
            "{} x",
        ] {
            assert!(parse_info(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
