//! Operator-mode tooling: keys, operator/account/user JWTs, creds files,
//! server config and pushing account JWTs (what `nsc` does for NATS).
//!
//! Everything lives in a store directory (see [`crate::store`]); seeds are
//! written 0600 and never printed except by `user creds` and
//! `keys gen --show-seed`.

mod cmds;
mod describe;
mod push;

use clap::{Args, Subcommand};
use std::path::PathBuf;

use crate::units::{parse_duration_ns, parse_limit};

pub use cmds::run;

/// Where the store is.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Store directory [default: $TRACEBUS_STORE, else ~/.local/share/tracebus/store]
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

/// Store plus which operator in it.
#[derive(Args, Clone, Debug)]
pub struct OperatorArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Operator in the store [default: the only one]
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// The JWT/nkey subcommands of `tracebus-tools`.
#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Create the operator (the root of trust), its system account and a
    /// system user.
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// Create and edit accounts (signed by the operator).
    #[command(subcommand)]
    Account(AccountCmd),
    /// Create users, write their creds files, revoke them.
    #[command(subcommand)]
    User(UserCmd),
    /// Decode a JWT (or a file holding one, or a creds file), print its
    /// claims and verify it against the store.
    Describe(DescribeArgs),
    /// Generate nkeys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Generate server configuration for the store's operator.
    #[command(subcommand)]
    Generate(GenerateCmd),
    /// Send account JWTs to a running server as claim updates, through the
    /// system account.
    Push(PushArgs),
    /// List the operators, accounts and users in the store.
    List(ListArgs),
}

/// `operator …`
#[derive(Subcommand, Debug)]
pub enum OperatorCmd {
    /// Create a new operator with a system account `SYS` and its user `sys`.
    Init(OperatorInitArgs),
}

/// `operator init`
#[derive(Args, Debug)]
pub struct OperatorInitArgs {
    /// Operator name.
    pub name: String,
    /// Also create an operator signing key; accounts are then signed with
    /// it instead of the identity key.
    #[arg(long)]
    pub signing_key: bool,
    /// Operator JWT expiry (e.g. 1y, 2030-01-01) [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expiry: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Account limit flags. Each takes a number, `-1`/`unlimited`, or a size
/// like `1M`.
#[derive(Args, Debug, Default, Clone)]
pub struct LimitArgs {
    /// Max client connections.
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub conn: Option<i64>,
    /// Max leaf-node connections.
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub leaf: Option<i64>,
    /// Max subscriptions.
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub subs: Option<i64>,
    /// Max message payload (bytes).
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub payload: Option<i64>,
    /// Max data (bytes).
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub data: Option<i64>,
    /// Max imports.
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub imports: Option<i64>,
    /// Max exports.
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub exports: Option<i64>,
    /// Whether exports may contain wildcards.
    #[arg(long, value_name = "BOOL")]
    pub wildcard_exports: Option<bool>,
    /// Whether bearer-token users are refused.
    #[arg(long, value_name = "BOOL")]
    pub disallow_bearer: Option<bool>,
}

/// `account …`
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Create an account (limits default to unlimited).
    Add(AccountAddArgs),
    /// Change limits, exports, imports, signing keys; re-signs the account.
    Edit(Box<AccountEditArgs>),
    /// Issue an activation token letting another account import a private
    /// export of this one.
    Activate(ActivateArgs),
}

/// `account add`
#[derive(Args, Debug)]
pub struct AccountAddArgs {
    /// Account name.
    pub name: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Account JWT expiry (e.g. 1y) [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expiry: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `account edit`
#[derive(Args, Debug)]
pub struct AccountEditArgs {
    /// Account name.
    pub name: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Add an export of this subject (a stream unless --service).
    #[arg(long, value_name = "SUBJECT")]
    pub add_export: Option<String>,
    /// Remove the export of this subject.
    #[arg(long, value_name = "SUBJECT")]
    pub rm_export: Option<String>,
    /// Add an import of this subject from --from (a stream unless --service).
    #[arg(long, value_name = "SUBJECT", requires = "from")]
    pub add_import: Option<String>,
    /// The exporting account of --add-import: a store account name or key.
    #[arg(long, value_name = "ACCOUNT")]
    pub from: Option<String>,
    /// The subject the import appears under locally [default: the subject]
    #[arg(long, value_name = "SUBJECT", requires = "add_import")]
    pub local_subject: Option<String>,
    /// Activation token (JWT or file) for importing a private export;
    /// minted automatically when the exporter is in this store.
    #[arg(long, value_name = "JWT|FILE", requires = "add_import")]
    pub token: Option<String>,
    /// Remove the import of this subject.
    #[arg(long, value_name = "SUBJECT")]
    pub rm_import: Option<String>,
    /// The export/import being added is a service (requests/replies).
    #[arg(long)]
    pub service: bool,
    /// The export being added requires an activation token.
    #[arg(long, requires = "add_export")]
    pub private: bool,
    /// Generate a new account signing key and add it.
    #[arg(long)]
    pub add_signing_key: bool,
    /// Remove this signing key (public key).
    #[arg(long, value_name = "KEY")]
    pub rm_signing_key: Option<String>,
    /// New expiry (e.g. 1y, 0 = never).
    #[arg(long, value_name = "WHEN")]
    pub expiry: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `account activate`
#[derive(Args, Debug)]
pub struct ActivateArgs {
    /// Exporting account name.
    pub name: String,
    /// Subject the importer may import (must be covered by an export).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// Importing account: a store account name or public key.
    #[arg(long = "for", value_name = "ACCOUNT")]
    pub target: String,
    /// The export is a service.
    #[arg(long)]
    pub service: bool,
    /// Token expiry [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expiry: Option<String>,
    /// Write the token to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `user …`
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user in an account.
    Add(Box<UserAddArgs>),
    /// Write a user's creds file (JWT + seed).
    Creds(UserCredsArgs),
    /// Revoke a user: the account re-signed with a revocation for every
    /// token of this user issued until now. Push the account afterwards.
    Revoke(UserRefArgs),
}

/// `user add`
#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// User name.
    pub name: String,
    /// Account the user belongs to.
    #[arg(long, short = 'a', value_name = "ACCOUNT")]
    pub account: String,
    /// Subject the user may publish to (repeatable).
    #[arg(long, value_name = "SUBJECT")]
    pub allow_pub: Vec<String>,
    /// Subject the user may subscribe to, optionally "SUBJECT QUEUE" (repeatable).
    #[arg(long, value_name = "SUBJECT")]
    pub allow_sub: Vec<String>,
    /// Subject the user may not publish to (repeatable).
    #[arg(long, value_name = "SUBJECT")]
    pub deny_pub: Vec<String>,
    /// Subject the user may not subscribe to (repeatable).
    #[arg(long, value_name = "SUBJECT")]
    pub deny_sub: Vec<String>,
    /// Allow N responses to each request received (resp.max).
    #[arg(long, value_name = "N")]
    pub allow_responses: Option<i64>,
    /// How long the response permission lasts (resp.ttl), e.g. 5s.
    #[arg(long, value_parser = parse_duration_ns, value_name = "DURATION", requires = "allow_responses")]
    pub response_ttl: Option<i64>,
    /// Max subscriptions [default: unlimited]
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub subs: Option<i64>,
    /// Max payload [default: unlimited]
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub payload: Option<i64>,
    /// Max data [default: unlimited]
    #[arg(long, value_parser = parse_limit, allow_negative_numbers = true, value_name = "N")]
    pub data: Option<i64>,
    /// CIDR the user may connect from (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub src: Vec<String>,
    /// Allowed connection type: STANDARD, WEBSOCKET, LEAFNODE, MQTT… (repeatable).
    #[arg(long, value_name = "TYPE")]
    pub conn_type: Vec<String>,
    /// Tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// JWT expiry: 90s, 30m, 24h, 7d, 1y, or a date [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expiry: Option<String>,
    /// Bearer token: the server does not ask for a nonce signature.
    #[arg(long)]
    pub bearer: bool,
    /// Sign with this account signing key (public key) instead of the
    /// account's identity key.
    #[arg(long, value_name = "KEY")]
    pub signing_key: Option<String>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `user creds`
#[derive(Args, Debug)]
pub struct UserCredsArgs {
    /// User name.
    pub name: String,
    /// The user's account.
    #[arg(long, short = 'a', value_name = "ACCOUNT")]
    pub account: String,
    /// Write to FILE (mode 0600) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// A user in an account.
#[derive(Args, Debug)]
pub struct UserRefArgs {
    /// User name.
    pub name: String,
    /// The user's account.
    #[arg(long, short = 'a', value_name = "ACCOUNT")]
    pub account: String,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `describe`
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// A JWT, or a file holding one (plain, decorated or a creds file).
    pub input: String,
    /// Print only the claims JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `keys …`
#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Generate a key pair; prints the public key. The seed goes to -o
    /// FILE, to stdout with --show-seed, or else into the store's keys/.
    Gen(KeysGenArgs),
}

/// `keys gen`
#[derive(Args, Debug)]
pub struct KeysGenArgs {
    /// operator, account, user, server or cluster.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub kind: String,
    /// Write the seed to FILE (mode 0600).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the seed too.
    #[arg(long)]
    pub show_seed: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `generate …`
#[derive(Subcommand, Debug)]
pub enum GenerateCmd {
    /// Server config: operator JWT, system account, resolver and the
    /// account JWTs to preload.
    Config(GenerateConfigArgs),
}

/// `generate config`
#[derive(Args, Debug)]
pub struct GenerateConfigArgs {
    /// Use a `full` directory resolver in DIR (needed for `push`)
    /// instead of `resolver: MEMORY`.
    #[arg(long, value_name = "DIR")]
    pub full_resolver: Option<PathBuf>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `push`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Server URL.
    #[arg(
        long,
        short = 's',
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    pub server: String,
    /// Account to push (repeatable).
    #[arg(
        long,
        short = 'a',
        value_name = "ACCOUNT",
        required_unless_present = "all"
    )]
    pub account: Vec<String>,
    /// Push every account.
    #[arg(long)]
    pub all: bool,
    /// System-account user to connect as [default: the first user of the system account]
    #[arg(long, value_name = "USER")]
    pub system_user: Option<String>,
    /// Seconds to wait for the server's answer.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub timeout: u64,
    #[command(flatten)]
    pub op: OperatorArgs,
}

/// `list`
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub op: OperatorArgs,
}
