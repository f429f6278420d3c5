//! nats-server's main command-line flags.
//!
//! The flag names are nats-server's so existing service units and scripts keep
//! working. nats-server parses flags with Go's `flag` package, which also accepts
//! long names after a single dash (`-port 4222`, `-config x.conf`); clap does not,
//! so [`normalize_args`] rewrites those before clap sees them. Combined short
//! flags (`-DV`, `-VD`, `-DVV`) are ordinary clap short-flag clusters.
//!
//! Use [`Cli::parse_args`] / [`Cli::try_parse_args`] rather than clap's own
//! `Cli::parse()`, which would skip that rewriting.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};

use super::{ConfigError, ErrorKind, Options};

/// Long flag names that Go-style single-dash spelling may use (`-port`).
const LONG_NAMES: &[&str] = &[
    "config",
    "addr",
    "net",
    "port",
    "name",
    "server_name",
    "user",
    "pass",
    "auth",
    "debug",
    "trace",
    "log",
    "pid",
    "logtime",
    "version",
    "help",
    "cluster",
    "routes",
    "cluster_name",
    "cluster_advertise",
    "no_advertise",
    "connect_retries",
    "signal",
];

/// Long flags that take a value in the next argument (unless written `--x=v`).
const VALUE_LONGS: &[&str] = &[
    "config",
    "addr",
    "net",
    "port",
    "name",
    "server_name",
    "user",
    "pass",
    "auth",
    "log",
    "pid",
    "cluster",
    "routes",
    "cluster_name",
    "cluster_advertise",
    "connect_retries",
    "signal",
];

/// Short flags that take a value.
const VALUE_SHORTS: &[char] = &['c', 'a', 'p', 'n', 'l', 'P'];

/// nats-server's multi-letter single-dash flags that are not long names, mapped
/// to the long flag that implements them: `(spelling, long name, takes a value)`.
const MULTI_LETTER_SHORTS: &[(&str, &str, bool)] = &[("sl", "signal", true)];

/// The command line: nats-server's main flags. Values given here override the
/// configuration file's.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "tracebus",
    version,
    about = "tracebus: a pub/sub broker that speaks the NATS protocol and reads nats-server configuration files",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Configuration file in nats-server format
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Interface to accept client connections on [default: 0.0.0.0]
    #[arg(short = 'a', long = "addr", visible_alias = "net", value_name = "HOST")]
    pub host: Option<String>,

    /// Client port; -1 or 0 picks a free port [default: 4222]
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(-1..=65535)
    )]
    pub port: Option<i32>,

    /// Name this server announces to clients [default: the server id]
    #[arg(
        short = 'n',
        long = "name",
        visible_alias = "server_name",
        value_name = "NAME"
    )]
    pub server_name: Option<String>,

    /// Require this user name from clients (with --pass)
    #[arg(long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Password that goes with --user
    #[arg(long = "pass", value_name = "PASSWORD")]
    pub pass: Option<String>,

    /// Require this token from clients (instead of --user/--pass)
    #[arg(long = "auth", value_name = "TOKEN")]
    pub auth: Option<String>,

    /// Log debug messages (-DV: debug and trace)
    #[arg(short = 'D', long = "debug", action = ArgAction::SetTrue)]
    pub debug: bool,

    /// Log every protocol line (-VV is accepted and means the same)
    #[arg(short = 'V', long = "trace", action = ArgAction::Count)]
    pub trace: u8,

    /// Write the log to FILE instead of standard error
    #[arg(short = 'l', long = "log", value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Write the process id to FILE
    #[arg(short = 'P', long = "pid", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Put timestamps on log lines; -T=false turns them off [default: true]
    #[arg(
        short = 'T',
        long = "logtime",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub logtime: Option<bool>,

    /// Cluster listen URL for routes, e.g. nats://127.0.0.1:6222 (user:pass@ sets the cluster authorization)
    #[arg(long = "cluster", value_name = "URL")]
    pub cluster: Option<String>,

    /// Routes to solicit, comma separated: nats-route://host:port,...
    #[arg(long = "routes", value_name = "URLS")]
    pub routes: Option<String>,

    /// Cluster name (every node of a cluster uses the same)
    #[arg(long = "cluster_name", value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// Route address announced to other nodes (host:port)
    #[arg(long = "cluster_advertise", value_name = "HOST:PORT")]
    pub cluster_advertise: Option<String>,

    /// Do not tell clients the URLs of the other cluster nodes
    #[arg(long = "no_advertise", action = ArgAction::SetTrue)]
    pub no_advertise: bool,

    /// Extra connection attempts for routes learned from other nodes
    #[arg(long = "connect_retries", value_name = "N")]
    pub connect_retries: Option<u32>,

    /// Send a signal to a running tracebus: ldm, quit, stop, term, reopen or reload,
    /// optionally =PID or =PIDFILE (e.g. --signal ldm=1234)
    #[arg(long = "signal", value_name = "SIGNAL[=PID]")]
    pub signal: Option<String>,

    /// Check the configuration, report the result and exit (0 valid, 1 not)
    #[arg(short = 't', action = ArgAction::SetTrue)]
    pub test_config: bool,

    /// Print the version and exit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: Option<bool>,
}

/// Go's `strconv.ParseBool` spellings, which is what nats-server accepts for
/// `-T=<bool>`.
fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("\"{s}\" is not a boolean (use true or false)")),
    }
}

/// Rewrites Go-style spellings into ones clap understands: `-port 4222` becomes
/// `--port 4222`, `-config=x` becomes `--config=x`. Values of flags are never
/// rewritten (so `--pass -debug` keeps its password; such a value is attached as
/// `--pass=-debug` because clap would read it as a flag), nor is anything after
/// `--`.
/// The first element is the program name and is kept as is.
pub fn normalize_args<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut iter = args.into_iter().map(Into::into);
    let mut out: Vec<OsString> = iter.next().into_iter().collect();
    let mut expect_value = false;
    let mut verbatim = false;
    for arg in iter {
        if expect_value {
            expect_value = false;
            // clap would take a value starting with '-' for a flag; attach it to
            // its flag instead (`--pass=-secret`, `-p=-1`).
            let joined = match (out.last().and_then(|f| f.to_str()), arg.to_str()) {
                (Some(flag), Some(value)) if value.starts_with('-') => {
                    Some(format!("{flag}={value}"))
                }
                _ => None,
            };
            match joined {
                Some(j) => *out.last_mut().expect("a flag precedes its value") = j.into(),
                None => out.push(arg),
            }
            continue;
        }
        if verbatim {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            verbatim = true;
        } else if let Some(long) = s.strip_prefix("--") {
            expect_value = !long.contains('=') && VALUE_LONGS.contains(&long);
        } else if let Some(body) = s.strip_prefix('-') {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            if name.chars().count() > 1 {
                if LONG_NAMES.contains(&name) {
                    expect_value = inline.is_none() && VALUE_LONGS.contains(&name);
                    out.push(format!("--{body}").into());
                    continue;
                }
                if let Some((_, long, takes_value)) = MULTI_LETTER_SHORTS
                    .iter()
                    .find(|(short, _, _)| *short == name)
                {
                    expect_value = inline.is_none() && *takes_value;
                    out.push(match inline {
                        Some(v) => format!("--{long}={v}").into(),
                        None => format!("--{long}").into(),
                    });
                    continue;
                }
            }
            // A short cluster such as `-Dp`: the next argument is a value when the
            // first value-taking letter is the cluster's last letter.
            if inline.is_none() {
                if let Some((i, _)) = body.char_indices().find(|(_, c)| VALUE_SHORTS.contains(c)) {
                    expect_value = i + 1 == body.len();
                }
            }
        }
        out.push(arg);
    }
    out
}

impl Cli {
    /// Parses the process's arguments; on a bad flag, `--help` or `--version`
    /// prints and exits like any clap program.
    pub fn parse_args() -> Cli {
        match Cli::try_parse_args(std::env::args_os()) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    /// Parses `args` (program name first) after [`normalize_args`].
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        Cli::try_parse_from(normalize_args(args))
    }

    /// The options to run with: the configuration file's (or the defaults), then
    /// every flag given on the command line on top. An authentication flag
    /// replaces the file's authentication method: `--auth` drops a user/password
    /// from the file and `--user`/`--pass` drop a token, so the command line can
    /// switch methods without editing the file.
    pub fn into_options(self) -> Result<Options, ConfigError> {
        let mut opts = match &self.config {
            Some(path) => Options::from_file(path)?,
            None => Options::default(),
        };
        if let Some(host) = self.host {
            opts.host = host;
        }
        if let Some(port) = self.port {
            opts.port = port;
        }
        if let Some(name) = self.server_name {
            opts.server_name = Some(name);
        }
        let auth = &mut opts.authorization;
        if self.auth.is_some() && (self.user.is_some() || self.pass.is_some()) {
            return Err(ConfigError::new(
                ErrorKind::Invalid,
                "--auth cannot be combined with --user/--pass",
            ));
        }
        if let Some(token) = self.auth {
            auth.token = Some(token);
            auth.user = None;
            auth.password = None;
        }
        if self.user.is_some() || self.pass.is_some() {
            auth.token = None;
        }
        if let Some(user) = self.user {
            auth.user = Some(user);
        }
        if let Some(pass) = self.pass {
            auth.password = Some(pass);
        }
        if self.debug {
            opts.debug = true;
        }
        if self.trace > 0 {
            opts.trace = true;
        }
        if let Some(logtime) = self.logtime {
            opts.logtime = logtime;
        }
        if let Some(log) = self.log_file {
            opts.log_file = Some(log);
        }
        if let Some(pid) = self.pid_file {
            opts.pid_file = Some(pid);
        }
        let cluster_flags = self.cluster.is_some()
            || self.routes.is_some()
            || self.cluster_name.is_some()
            || self.cluster_advertise.is_some()
            || self.no_advertise
            || self.connect_retries.is_some();
        if cluster_flags {
            let c = opts.cluster.get_or_insert_with(Default::default);
            if let Some(url) = &self.cluster {
                c.apply_listen_url(url)?;
            }
            if let Some(routes) = &self.routes {
                c.apply_routes_flag(routes)?;
            }
            if let Some(name) = self.cluster_name {
                c.name = Some(name);
            }
            if let Some(adv) = self.cluster_advertise {
                c.advertise = Some(adv);
            }
            if self.no_advertise {
                c.no_advertise = true;
            }
            if let Some(n) = self.connect_retries {
                c.connect_retries = n;
            }
        }
        opts.validate()?;
        Ok(opts)
    }

    /// What `-t` does: load the configuration and flags, print the verdict to
    /// standard error and return the exit code (0 valid, 1 invalid), like
    /// `nats-server -t`. A configuration file is required, as in nats-server.
    pub fn run_config_test(self) -> ExitCode {
        let Some(file) = self.config.clone() else {
            eprintln!("tracebus: -t needs a configuration file (-c FILE) to check");
            return ExitCode::FAILURE;
        };
        match self.into_options() {
            Ok(_) => {
                eprintln!("tracebus: configuration file {} is valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tracebus: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["tracebus"];
        all.extend_from_slice(args);
        Cli::try_parse_args(all).unwrap()
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn combined_debug_trace_flags() {
        for flags in ["-DV", "-VD", "-DVV", "-VV"] {
            let c = cli(&[flags]);
            assert!(c.trace > 0, "{flags}");
            assert_eq!(c.debug, flags.contains('D'), "{flags}");
        }
    }

    #[test]
    fn go_style_single_dash_long_flags() {
        let c = cli(&["-port", "5000", "-config=x.conf", "-user", "-debug"]);
        assert_eq!(c.port, Some(5000));
        assert_eq!(c.config, Some(PathBuf::from("x.conf")));
        // `-debug` was the value of -user, not a flag.
        assert_eq!(c.user.as_deref(), Some("-debug"));
        assert!(!c.debug);
    }

    #[test]
    fn random_port_and_range() {
        assert_eq!(cli(&["-p", "-1"]).port, Some(-1));
        assert!(Cli::try_parse_args(["tracebus", "-p", "70000"]).is_err());
    }

    #[test]
    fn logtime_optional_value() {
        assert_eq!(cli(&["-T"]).logtime, Some(true));
        assert_eq!(cli(&["-T=false"]).logtime, Some(false));
        assert_eq!(cli(&["--logtime=0"]).logtime, Some(false));
        assert_eq!(cli(&[]).logtime, None);
    }

    #[test]
    fn cluster_flags() {
        let o = cli(&[
            "-cluster",
            "nats://127.0.0.1:-1",
            "--routes",
            "nats-route://127.0.0.1:6222,nats://127.0.0.1:6223",
            "--cluster_name",
            "C1",
        ])
        .into_options()
        .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(c.port, Some(-1));
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.name.as_deref(), Some("C1"));
        // Routes without a listen address are refused.
        assert!(cli(&["--routes", "nats://127.0.0.1:6222"])
            .into_options()
            .is_err());
        assert_eq!(cli(&["-sl", "ldm=12"]).signal.as_deref(), Some("ldm=12"));
        assert_eq!(cli(&["--signal", "quit"]).signal.as_deref(), Some("quit"));
    }

    #[test]
    fn auth_flags_replace_the_method() {
        let o = cli(&["--auth", "tok"]).into_options().unwrap();
        assert_eq!(o.authorization.token.as_deref(), Some("tok"));
        assert!(
            Cli::try_parse_args(["tracebus", "--auth", "t", "--user", "u"])
                .unwrap()
                .into_options()
                .is_err()
        );
    }
}
