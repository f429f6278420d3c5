//! The options a client sends in `CONNECT <json>`.
//!
//! Decoding follows nats-server (Go `encoding/json`), probed on 2.9.10:
//! `CONNECT null` is accepted and means "all defaults"; keys match ignoring case
//! (`"VERBOSE":false` works); a `null` value keeps the default; unknown keys are
//! ignored; a wrong type (`"verbose":"no"`, `"protocol":1.0`, `"name":5`), text
//! after the object, or a non-object closes the connection **without** an
//! `-ERR`. After authentication nats-server checks `protocol` and
//! `no_responders`, which do send an `-ERR` (see [`ConnectError::err_text`]).

use serde::{Deserialize, Serialize};

/// CONNECT options. Omitted fields take nats-server's defaults, which are
/// `true` for `verbose`, `pedantic` and `echo` and false/empty otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectInfo {
    /// Acknowledge every op with `+OK`.
    pub verbose: bool,
    /// Extra checks, e.g. `Invalid Publish Subject` for wildcards in PUB.
    pub pedantic: bool,
    /// The client insists on TLS.
    pub tls_required: bool,
    /// Deliver the connection's own publishes to its own subscriptions.
    pub echo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Public nkey of an nkey user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Signature over the INFO nonce (base64url, standard base64 also seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// User JWT (operator mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 0 = original protocol, 1 = accepts async INFO (cluster URLs, lame duck).
    /// Wide so that any JSON integer nats-server accepts decodes; out-of-range
    /// values are refused by [`ConnectInfo::validate`].
    pub protocol: i64,
    /// Decoded (nats-server knows it and rejects a wrong type) but unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Decoded for the same reason as `account`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub new_account: bool,
    /// The client understands HPUB/HMSG.
    pub headers: bool,
    /// Answer requests without responders with a 503 status message.
    pub no_responders: bool,
}

impl Default for ConnectInfo {
    fn default() -> Self {
        ConnectInfo {
            verbose: true,
            pedantic: true,
            tls_required: false,
            echo: true,
            user: None,
            pass: None,
            auth_token: None,
            nkey: None,
            sig: None,
            jwt: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            account: None,
            new_account: false,
            headers: false,
            no_responders: false,
        }
    }
}

/// Serde names of [`ConnectInfo`]'s fields, for case-insensitive key matching.
const FIELDS: &[&str] = &[
    "verbose",
    "pedantic",
    "tls_required",
    "echo",
    "user",
    "pass",
    "auth_token",
    "nkey",
    "sig",
    "jwt",
    "name",
    "lang",
    "version",
    "protocol",
    "account",
    "new_account",
    "headers",
    "no_responders",
];

/// `-ERR` text for a `protocol` other than 0 or 1 (the connection is closed).
pub const ERR_BAD_CLIENT_PROTOCOL: &str = "invalid client protocol";
/// `-ERR` text for `no_responders` without `headers` (the connection is closed).
pub const ERR_NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";

/// Why a CONNECT is refused. Each ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Not decodable as CONNECT options.
    #[error("invalid CONNECT JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `protocol` is neither 0 nor 1.
    #[error("invalid client protocol {0}")]
    BadProtocol(i64),
    /// `no_responders` asked for without `headers`.
    #[error("no responders requires headers support")]
    NoRespondersRequiresHeaders,
}

impl ConnectError {
    /// The `-ERR` text nats-server 2.9 sends before closing, or `None` when it
    /// closes silently (undecodable JSON).
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ConnectError::Json(_) => None,
            ConnectError::BadProtocol(_) => Some(ERR_BAD_CLIENT_PROTOCOL),
            ConnectError::NoRespondersRequiresHeaders => Some(ERR_NO_RESPONDERS_REQUIRES_HEADERS),
        }
    }
}

/// Decodes the JSON of a CONNECT op (as returned in
/// [`super::client::ClientOp::Connect`]). Only decoding errors come back; call
/// [`ConnectInfo::validate`] after authentication, which is nats-server's order.
pub fn parse_connect(json: &[u8]) -> Result<ConnectInfo, ConnectError> {
    Ok(super::decode_like_go(json, FIELDS)?)
}

impl ConnectInfo {
    /// nats-server's post-authentication checks, in its order: `protocol` must
    /// be 0 or 1, then `no_responders` requires `headers`.
    pub fn validate(&self) -> Result<(), ConnectError> {
        if !(0..=1).contains(&self.protocol) {
            return Err(ConnectError::BadProtocol(self.protocol));
        }
        if self.no_responders && !self.headers {
            return Err(ConnectError::NoRespondersRequiresHeaders);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: &str) -> ConnectInfo {
        parse_connect(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn bad(json: &str) {
        let e = parse_connect(json.as_bytes()).expect_err(json);
        assert_eq!(e.err_text(), None, "{json}");
    }

    #[test]
    fn defaults() {
        let d = ConnectInfo::default();
        assert!(d.verbose && d.pedantic && d.echo);
        assert!(!d.headers && !d.no_responders && !d.tls_required);
        assert_eq!(d.protocol, 0);
        assert_eq!(ok("{}"), d);
        assert_eq!(ok("null"), d);
        assert_eq!(ok("  {}  \r\n"), d);
    }

    #[test]
    fn all_fields() {
        let c = ok(
            r#"{"verbose":false,"pedantic":false,"tls_required":true,"echo":false,
            "user":"u","pass":"p","auth_token":"t","nkey":"UABC","sig":"s","jwt":"j",
            "name":"n","lang":"rust","version":"1.2","protocol":1,"account":"a",
            "new_account":true,"headers":true,"no_responders":true,"zzz":[1,{"y":null}]}"#,
        );
        assert_eq!(
            c,
            ConnectInfo {
                verbose: false,
                pedantic: false,
                tls_required: true,
                echo: false,
                user: Some("u".into()),
                pass: Some("p".into()),
                auth_token: Some("t".into()),
                nkey: Some("UABC".into()),
                sig: Some("s".into()),
                jwt: Some("j".into()),
                name: Some("n".into()),
                lang: Some("rust".into()),
                version: Some("1.2".into()),
                protocol: 1,
                account: Some("a".into()),
                new_account: true,
                headers: true,
                no_responders: true,
            }
        );
        // Every field survives a serialize/decode round trip.
        let json = serde_json::to_vec(&c).unwrap();
        assert_eq!(parse_connect(&json).unwrap(), c);
    }

    #[test]
    fn go_quirks() {
        assert!(!ok(r#"{"VERBOSE":false}"#).verbose);
        assert!(!ok(r#"{"Verbose":false}"#).verbose);
        assert!(ok(r#"{"verbose":null}"#).verbose);
        assert_eq!(ok(r#"{"name":null}"#).name, None);
        // Last duplicate wins, whatever its case.
        assert!(!ok(r#"{"verbose":true,"verbose":false}"#).verbose);
        assert!(ok(r#"{"VERBOSE":false,"verbose":true}"#).verbose);
        assert!(!ok(r#"{"verbose":true,"VERBOSE":false}"#).verbose);
        // A null after a value keeps the value.
        assert!(!ok(r#"{"verbose":false,"verbose":null}"#).verbose);
        assert_eq!(ok(r#"{"protocol":1099511627776}"#).protocol, 1 << 40);
    }

    #[test]
    fn decode_errors_close_silently() {
        for json in [
            "{nope",
            "",
            "[]",
            "5",
            "\"x\"",
            r#"{"verbose":"no"}"#,
            r#"{"headers":1}"#,
            r#"{"protocol":"1"}"#,
            r#"{"protocol":1.0}"#,
            r#"{"protocol":99999999999999999999}"#,
            r#"{"name":5}"#,
            r#"{"lang":1}"#,
            r#"{"account":5}"#,
            r#"{"new_account":"x"}"#,
            r#"{"verbose":false} xyz"#,
            r#"{"verbose":false}{}"#,
        ] {
            bad(json);
        }
    }

    #[test]
    fn validation() {
        assert!(ok(r#"{"protocol":1}"#).validate().is_ok());
        assert!(ok(r#"{"headers":true,"no_responders":true}"#)
            .validate()
            .is_ok());
        for json in [r#"{"protocol":2}"#, r#"{"protocol":-1}"#] {
            let e = ok(json).validate().unwrap_err();
            assert_eq!(e.err_text(), Some("invalid client protocol"));
        }
        let e = ok(r#"{"no_responders":true}"#).validate().unwrap_err();
        assert_eq!(e.err_text(), Some("no responders requires headers support"));
        // Protocol is checked first.
        let e = ok(r#"{"protocol":2,"no_responders":true}"#)
            .validate()
            .unwrap_err();
        assert!(matches!(e, ConnectError::BadProtocol(2)));
    }
}
