//! Running the real binary: a hermetic environment, the output collected while it runs, the
//! address it listens on read from what it prints, and no process left behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{KEY_ID, PATIENCE, SECRET};

pub const BIN: &str = env!("CARGO_BIN_EXE_dbs-exporter");

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Keeps the credential chain of a spawned binary on this machine: every `ALIBABA_CLOUD_*`
/// variable of the test's own environment removed, no ECS metadata service (a real address,
/// never to be called from a test), no profiles from the real home. A test sets what it needs
/// after this.
pub fn hermetic(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALIBABA_CLOUD_") {
            command.env_remove(name);
        }
    }
    // The machine's proxies and CA bundle are not the test's: a test sets them when it means to.
    for name in TRUST_AND_PROXY_VARIABLES {
        command.env_remove(name);
    }
    command
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent/dbs-exporter-test-home")
}

/// Variables that change where API calls go or whom they trust.
const TRUST_AND_PROXY_VARIABLES: [&str; 9] = [
    "SSL_CERT_FILE",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The binary in a hermetic environment (see [`hermetic`]), with nothing on its stdin.
pub fn binary() -> Command {
    let mut command = Command::new(BIN);
    hermetic(&mut command).stdin(Stdio::null());
    command
}

/// The binary with an AccessKey in its environment and nothing else inherited that matters.
pub fn exporter(key_id: &str, secret: &str) -> Command {
    let mut command = binary();
    command.env("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id).env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret);
    command
}

/// The binary with the shared key, set to run `subcommand` (`once`, `discover`,
/// `check-config`) on the configuration file `config`.
pub fn subcommand(subcommand: &str, config: &Path) -> Command {
    let mut command = exporter(KEY_ID, SECRET);
    command.args([subcommand, "--config.file", config.to_str().unwrap()]);
    command
}

/// A loopback port that refuses connections for as long as the returned socket lives: bound
/// (so nothing else can take it) but not listening.
pub fn refusing_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let address = socket.local_addr().unwrap();
    (socket, address)
}

/// A spawned binary, killed on drop so that a failing test leaves no process behind. Two
/// threads read its stdout and stderr as they come, so the test can wait for a line (the
/// address it listens on) while it runs and read all it wrote once it has exited.
pub struct Running {
    child: Child,
    stdout: Captured,
    stderr: Captured,
}

/// What one output stream of the child has written so far, and whether it has closed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<(String, bool)>>);

impl Captured {
    fn read_from(stream: impl Read + Send + 'static) -> Captured {
        let captured = Captured::default();
        let shared = captured.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                shared.0.lock().unwrap().0.push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
            shared.0.lock().unwrap().1 = true;
        });
        captured
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().0.clone()
    }

    fn closed(&self) -> bool {
        self.0.lock().unwrap().1
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Spawns `command` with stdout and stderr captured.
    pub fn spawn(command: &mut Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Captured::read_from(child.stdout.take().unwrap());
        let stderr = Captured::read_from(child.stderr.take().unwrap());
        Running { child, stdout, stderr }
    }

    /// Sends `kill -<signal>` (`TERM`, `HUP`, ...).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.unwrap().success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait(within)
    }

    /// The exit status, once the child has exited by itself; `None` if it still runs after `within`.
    pub fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything written to stdout so far; all of it once the child has exited.
    pub fn stdout(&mut self) -> String {
        let stream = self.stdout.clone();
        self.settled(&stream)
    }

    /// Everything written to stderr (the log) so far; all of it once the child has exited.
    pub fn stderr(&mut self) -> String {
        let stream = self.stderr.clone();
        self.settled(&stream)
    }

    /// The text of `stream`; once the child has exited, after its reader has seen it close
    /// (the last lines may still be on their way when the exit status is known).
    fn settled(&mut self, stream: &Captured) -> String {
        if self.child.try_wait().unwrap().is_some() {
            let deadline = Instant::now() + PATIENCE;
            while !stream.closed() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        stream.text()
    }

    /// The address the daemon listens on, from its startup log line (`dbs-exporter listening`
    /// with `address=`), so that it can be started on port 0.
    pub async fn listening(&self) -> SocketAddr {
        self.address_in(&self.stderr, |line| {
            line.contains("\"dbs-exporter listening\"")
                .then(|| line.split_whitespace().find_map(|field| field.strip_prefix("address=")))
                .flatten()
        })
        .await
    }

    /// The address `demo` serves on, from the line it prints (`open http://ADDRESS/metrics`).
    pub async fn demo_listening(&self) -> SocketAddr {
        self.address_in(&self.stdout, |line| {
            let url = line.strip_prefix("dbs-exporter demo: open http://")?;
            url.split_once('/').map(|(address, _)| address)
        })
        .await
    }

    async fn address_in(&self, stream: &Captured, find: impl Fn(&str) -> Option<&str>) -> SocketAddr {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = stream.text();
            if let Some(address) = text.lines().find_map(&find) {
                return address.parse().unwrap_or_else(|_| panic!("not an address: {address:?}"));
            }
            assert!(
                !stream.closed() && Instant::now() < deadline,
                "no listening address was printed; stdout:\n{}\nstderr:\n{}",
                self.stdout.text(),
                self.stderr.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
