//! The `tracebus` binary as an operator runs it: flags, config files, errors,
//! pid file, and clean shutdown on signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tracebus");
/// Bounds only a failing test; a passing one returns as soon as the event happens.
const WAIT: Duration = Duration::from_secs(20);

/// A running `tracebus` process whose stderr (the log) is read line by line.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tracebus");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// The client port from the "Listening for client connections on" line.
    fn client_port(&mut self) -> u16 {
        let line = self.wait_line("Listening for client connections on");
        line.rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned; no memory is shared.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tracebus did not exit; log {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects, reads INFO, does a PING/PONG round trip; returns the INFO line.
fn ping_pong(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut info = String::new();
    r.read_line(&mut info).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut pong = String::new();
    r.read_line(&mut pong).unwrap();
    assert_eq!(pong, "PONG\r\n");
    info
}

fn write_conf(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn serves_clients_and_exits_zero_on_sigterm() {
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", "-1"]);
    let port = p.client_port();
    p.wait_line("Server is ready");
    let info = ping_pong(port);
    assert!(info.starts_with("INFO {"), "{info}");
    assert!(info.contains(&format!("\"port\":{port}")), "{info}");
    p.signal(libc::SIGTERM);
    let status = p.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    // The listener is closed once the process is gone.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn sigint_closes_connected_clients_and_exits_zero() {
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", "-1"]);
    let port = p.client_port();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap(); // INFO
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n");
    p.signal(libc::SIGINT);
    // The server closes our connection: reading reaches EOF.
    let mut rest = Vec::new();
    r.read_to_end(&mut rest)
        .expect("connection closed by server");
    assert!(p.wait_exit().success());
}

#[test]
fn config_file_is_used_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "s.conf",
        "listen: 127.0.0.1:-1\nserver_name: from_file\nmax_payload: 2KB\n",
    );
    let mut p = Proc::spawn(&["-c", &conf, "-n", "from_flag"]);
    let port = p.client_port();
    let info = ping_pong(port);
    assert!(info.contains("\"max_payload\":2048"), "{info}");
    assert!(info.contains("\"server_name\":\"from_flag\""), "{info}");
}

#[test]
fn example_config_in_conf_loads() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/tracebus.conf");
    let out = Command::new(BIN).args(["-c", conf, "-t"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_stops_startup_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "bad.conf",
        "port: 4222\n# a comment\nmax_paylod: 1MB\n",
    );
    let out = Command::new(BIN).args(["-c", &conf]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{conf}:3:")), "{err}");
    assert!(err.contains("max_paylod"), "{err}");

    let conf = write_conf(dir.path(), "bad2.conf", "max_payload: lots\n");
    let out = Command::new(BIN).args(["-c", &conf]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{conf}:1:")), "{err}");

    let out = Command::new(BIN)
        .args(["-c", "/nonexistent/tracebus.conf"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tracebus.conf"));
}

#[test]
fn port_in_use_is_an_error_not_a_hang() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", &port]);
    let status = p.wait_exit();
    assert!(!status.success());
}

#[test]
fn pid_file_is_written_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_path = dir.path().join("tracebus.pid");
    let pid_arg = pid_path.to_string_lossy().into_owned();
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", "-1", "-P", &pid_arg]);
    p.wait_line("Server is ready");
    let pid = std::fs::read_to_string(&pid_path).expect("pid file");
    assert_eq!(pid.trim(), p.child.id().to_string());
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit().success());
    assert!(!pid_path.exists(), "pid file left behind");
}

#[test]
fn version_flag_prints_version() {
    let out = Command::new(BIN).arg("-v").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn trace_flag_logs_protocol_ops() {
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", "-1", "-DV"]);
    let port = p.client_port();
    ping_pong(port);
    p.wait_line("<<- [PING]");
}

#[test]
fn log_file_receives_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracebus.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", "-1", "-l", &log_arg]);
    // Nothing on stderr to learn the port from: poll the log file instead.
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Server is ready") {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "log file: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.contains("Listening for client connections on"));
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit().success());
}
