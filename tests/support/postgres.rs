//! The PostgreSQL server the tests use: `ROTA_TEST_POSTGRES_URL` when set (CI points it at its
//! server, and nothing is started then, whether it answers or not); else the server at
//! 127.0.0.1:5432 when one answers; else a throwaway cluster started once per test binary
//! with `initdb`/`pg_ctl` from the system's PostgreSQL packages, in a temp dir, on a free port,
//! stopped when the binary exits. A cluster left behind by a killed run is stopped and
//! removed by the next run.
//!
//! `ROTA_TEST_POSTGRES_PROBE` (host:port) replaces 127.0.0.1:5432 as the address probed; it
//! exists so that `.ci/test-postgres-autostart` can test the auto-start on a machine where a
//! server does answer at 5432.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The admin URL of the server tests make their databases on; fails the test (with one line
/// saying what to do) when there is none and none can be started.
pub fn admin_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("ROTA_TEST_POSTGRES_URL") {
            return Ok(url);
        }
        let probe =
            std::env::var("ROTA_TEST_POSTGRES_PROBE").unwrap_or_else(|_| "127.0.0.1:5432".into());
        let address: SocketAddr = probe
            .parse()
            .map_err(|e| format!("ROTA_TEST_POSTGRES_PROBE={probe}: {e}"))?;
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
            return Ok(format!("postgres://postgres@{address}/postgres"));
        }
        Cluster::start().map(|port| format!("postgres://postgres@127.0.0.1:{port}/postgres"))
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Names of the clusters' folders in the temp dir: `rota-test-pg-<pid of the test binary>-…`.
const PREFIX: &str = "rota-test-pg-";

/// The running throwaway cluster's folder, stopped and removed at exit.
static RUNNING: Mutex<Option<PathBuf>> = Mutex::new(None);

struct Cluster;

impl Cluster {
    /// Starts a cluster and returns its port.
    fn start() -> Result<u16, String> {
        let bin = binaries().ok_or_else(|| {
            "PostgreSQL is not installed (no initdb and pg_ctl in /usr/lib/postgresql/*/bin or on PATH) and none answers at 127.0.0.1:5432: install it with `sudo apt-get install postgresql`, or set ROTA_TEST_POSTGRES_URL".to_string()
        })?;
        remove_leftovers(&bin);
        let dir = std::env::temp_dir().join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let init = owned_by_postgres(&bin.join("initdb"))
            .args(["-D"])
            .arg(&dir)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.join("initdb").display()))?;
        check(&init, "initdb")?;
        *RUNNING.lock().unwrap() = Some(dir.clone());
        register_exit_hook();
        // Another process may take the free port before the server binds it: try another.
        let mut last = String::new();
        for _ in 0..5 {
            let port = super::smtp::free_port();
            // TCP on loopback only (no Unix socket: its default folder may not be writable),
            // and no fsync: the data is thrown away.
            let settings = format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n"
            );
            std::fs::write(dir.join("postgresql.auto.conf"), settings)
                .map_err(|e| format!("cannot configure the test cluster: {e}"))?;
            let started = owned_by_postgres(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&dir)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "30", "start"])
                .output()
                .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
            match check(&started, "pg_ctl start") {
                Ok(()) => {
                    eprintln!(
                        "tests: started a throwaway PostgreSQL cluster on 127.0.0.1:{port} in {}",
                        dir.display()
                    );
                    return Ok(port);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The folder holding `initdb` and `pg_ctl`: the newest in /usr/lib/postgresql, else PATH's.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        })
    })
}

/// PostgreSQL refuses to run as root; root (a CI container) runs it as the `postgres` user
/// that the packages create.
fn owned_by_postgres(program: &Path) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if is_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn check(output: &Output, what: &str) -> Result<(), String> {
    if output.status.success() {
        Ok(())
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            said.trim().replace('\n', " | ")
        ))
    }
}

/// Stops the cluster in `dir` at once and removes the folder.
fn stop(bin: &Path, dir: &Path) {
    if dir.join("postmaster.pid").exists() {
        let _ = owned_by_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Clusters of test binaries that are no longer running (killed before their exit hook ran).
fn remove_leftovers(bin: &Path) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            stop(bin, &entry.path());
        }
    }
}

/// Stops the cluster when the test binary exits: statics are never dropped, so this is an
/// `atexit` handler (the test harness returns from `main`, which runs them).
fn register_exit_hook() {
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
    }
    extern "C" fn stop_at_exit() {
        let dir = RUNNING.lock().ok().and_then(|mut d| d.take());
        if let (Some(dir), Some(bin)) = (dir, binaries()) {
            stop(&bin, &dir);
        }
    }
    // SAFETY: registers a plain function with the C library; it runs once, at exit.
    unsafe {
        atexit(stop_at_exit);
    }
}
