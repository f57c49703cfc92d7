//! A real SMTP server for tests: Python's aiosmtpd (`tests/peers/smtp/server.py`) on a free
//! 127.0.0.1 port, storing what it accepts in a temp folder. Python and aiosmtpd come from
//! `target/test-venv`, made on first use (`tests/peers/python-venv`, under a lock file since
//! several test binaries start at once). Each test starts its own server; dropping it stops it.

use serde::Deserialize;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An email as the server received it: the envelope, and the message as a mail client reads
/// it (decoded headers, the text body with `\n` line ends).
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedEmail {
    /// Who logged in, on a server started with `start_with_login`.
    pub login: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: String,
    pub message_id: String,
    pub content_type: String,
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058), when the message has them.
    #[serde(default)]
    pub list_unsubscribe: Option<String>,
    #[serde(default)]
    pub list_unsubscribe_post: Option<String>,
    pub body: String,
}

pub struct SmtpServer {
    child: Child,
    /// Held open: the server exits when it closes (also when this test process dies).
    _stdin: ChildStdin,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts a server and waits until it listens.
    pub fn start() -> SmtpServer {
        Self::launch(None)
    }

    /// Starts a server that takes mail only after AUTH (PLAIN or LOGIN, without TLS) with this
    /// user and password.
    pub fn start_with_login(user: &str, password: &str) -> SmtpServer {
        Self::launch(Some(format!("{user}:{password}")))
    }

    fn launch(login: Option<String>) -> SmtpServer {
        let python = python();
        let script = root().join("tests/peers/smtp/server.py");
        for _ in 0..10 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            let mut child = Command::new(&python)
                .arg(&script)
                .arg(port.to_string())
                .arg(dir.path())
                .args(login.as_deref())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
            let stdin = child.stdin.take().unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
            if ready.trim() == "ready" {
                return SmtpServer {
                    child,
                    _stdin: stdin,
                    port,
                    dir,
                };
            }
            let _ = child.kill();
            let output = child.wait_with_output().expect("aiosmtpd output");
            if output.status.code() == Some(3) {
                continue; // someone took the port meanwhile
            }
            panic!(
                "aiosmtpd did not start ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        panic!("no free port for aiosmtpd after 10 tries");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`, as `ROTA_SMTP_URL` takes it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// A mailer that sends here, from `Rota <rota@example.com>`.
    pub fn mailer(&self) -> rota::notify::email::Mailer {
        rota::notify::email::Mailer::new(
            &rota::config::SmtpUrl::parse(&self.url()).expect("SMTP URL"),
            "Rota <rota@example.com>".parse().expect("mailbox"),
        )
        .expect("mailer")
    }

    /// The emails received so far, oldest first, once there are at least `expect` of them or
    /// when `deadline` has passed (then perhaps fewer).
    pub fn messages(&self, expect: usize, deadline: Duration) -> Vec<ReceivedEmail> {
        let until = Instant::now() + deadline;
        loop {
            let found = self.read_all();
            if found.len() >= expect || Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `messages` for a test whose app (or delivery loop) runs on the test's own thread.
    pub async fn wait_for(&self, expect: usize, deadline: Duration) -> Vec<ReceivedEmail> {
        let until = Instant::now() + deadline;
        loop {
            let found = self.read_all();
            if found.len() >= expect || Instant::now() >= until {
                return found;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn read_all(&self) -> Vec<ReceivedEmail> {
        let new = self.dir.path().join("new");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return Vec::new(),
        };
        names.sort();
        names
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("read message");
                serde_json::from_str(&text).expect("message JSON")
            })
            .collect()
    }

    pub fn stop(self) {}
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (someone may take it before it is used: callers retry).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test venv's Python, with the peers' packages installed.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let target = root().join("target");
            std::fs::create_dir_all(&target).expect("target dir");
            let lock = File::create(target.join("test-venv.lock")).expect("lock file");
            lock.lock().expect("lock the test venv");
            let venv = target.join("test-venv");
            let status = Command::new("bash")
                .arg(root().join("tests/peers/python-venv"))
                .arg(&venv)
                .arg(root().join("tests/peers/requirements.txt"))
                .status()
                .expect("run tests/peers/python-venv");
            assert!(
                status.success(),
                "tests/peers/python-venv failed ({status}): python3 with venv and PyPI are needed"
            );
            drop(lock);
            venv.join("bin/python")
        })
        .clone()
}
