//! A real Prometheus Alertmanager for tests (Debian's `prometheus-alertmanager`, 0.25): started
//! per test on a free 127.0.0.1 port with its own configuration and storage in a temp folder,
//! clustering off, killed when dropped. Its log (stderr) is kept in that folder and shown when
//! it does not start or when a test asks (`log`).
//!
//! Without the binary, `Alertmanager::start` returns `None` after a loud message, so a developer
//! machine without it skips the test; when `ROTA_REQUIRE_PEERS` is set (as `.ci/run` does) a
//! missing binary fails the test instead. `ROTA_ALERTMANAGER_BIN` names another binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Alertmanager may take to answer `/-/ready`.
const READY_DEADLINE: Duration = Duration::from_secs(30);

pub struct Alertmanager {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// The binary: `ROTA_ALERTMANAGER_BIN` (missing if that is not a file), else `prometheus-alertmanager` (Debian's name) or
    /// `alertmanager` on the PATH or in /usr/bin.
    pub fn binary() -> Option<PathBuf> {
        if let Some(bin) = std::env::var_os("ROTA_ALERTMANAGER_BIN") {
            return Some(PathBuf::from(bin)).filter(|p| p.is_file());
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/bin")])
            .collect();
        ["prometheus-alertmanager", "alertmanager"]
            .iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
            .find(|p| p.is_file())
    }

    /// Starts Alertmanager with this `alertmanager.yml` and waits until it is ready; `None`
    /// (after saying so on stderr) when the binary is missing and `ROTA_REQUIRE_PEERS` is unset.
    pub fn start(config_yaml: &str) -> Option<Alertmanager> {
        let Some(binary) = Self::binary() else {
            let required = std::env::var_os("ROTA_REQUIRE_PEERS").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager, \
                 or set ROTA_ALERTMANAGER_BIN), and ROTA_REQUIRE_PEERS is set: this test may not skip"
            );
            // Straight to the process's stderr: libtest captures `eprintln!` of a passing
            // test, and a skip must show in a plain `cargo test`.
            let _ = std::io::stderr().write_all(
                b"\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                  !!! SKIPPED: prometheus-alertmanager is not installed, so this test checked\n\
                  !!! nothing. apt-get install prometheus-alertmanager (or set\n\
                  !!! ROTA_ALERTMANAGER_BIN); set ROTA_REQUIRE_PEERS=1 to make this a failure.\n\
                  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n",
            );
            return None;
        };
        Some(Self::launch(&binary, config_yaml))
    }

    fn launch(binary: &Path, config_yaml: &str) -> Alertmanager {
        for _ in 0..10 {
            let port = super::smtp::free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            let config = dir.path().join("alertmanager.yml");
            std::fs::write(&config, config_yaml).expect("write alertmanager.yml");
            let storage = dir.path().join("data");
            std::fs::create_dir_all(&storage).expect("storage dir");
            let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log file");
            let child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", storage.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                // Empty: no gossip, no cluster port to collide on.
                .arg("--cluster.listen-address=")
                .arg("--log.level=debug")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut am = Alertmanager { child, port, dir };
            if am.wait_ready() {
                return am;
            }
            // Someone took the port meanwhile: dropping `am` reaps it; try another.
        }
        panic!("no free port for alertmanager after 10 tries");
    }

    /// Waits for `/-/ready`; false when it exited because its port was taken.
    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("alertmanager status") {
                let log = self.log();
                if log.contains("address already in use") {
                    return false;
                }
                panic!("alertmanager exited before it was ready ({status}):\n{log}");
            }
            if self.ready() {
                return true;
            }
            assert!(
                Instant::now() < until,
                "alertmanager was not ready within {READY_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What Alertmanager has logged so far (debug level: every notification attempt).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// `GET /-/ready` answers 200 (a plain HTTP/1.0 request: no runtime needed).
    fn ready(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
