//! The OIDC provider peer: a real OpenID Provider shaped like Microsoft Entra ID v2.0
//! (`tests/peers/oidc-provider`, Node.js and the `oidc-provider` package), started once per test
//! binary. Its README lists the accounts, the headless sign-in by `login_hint` and the mangle
//! modes that forge ID tokens. Here: installing its npm packages when missing, starting it,
//! and the two calls tests make on it (client registration, accounts). No sign-in logic.

use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// How long the peer may take to print its ready line.
const READY_DEADLINE: Duration = Duration::from_secs(30);

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT/{tenant}/v2.0`; discovery is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The home tenant id: the `tid` of every account that does not name another.
    pub tenant: String,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// The peer's stderr: its log of sign-ins, mangled tokens and protocol errors.
    log: PathBuf,
    /// Held open for the life of the test binary: the peer exits when its stdin closes, so a
    /// test binary that dies never leaves it behind.
    _stdin: ChildStdin,
    _process: Child,
}

impl OidcProvider {
    /// Started once per test binary (std::sync::OnceLock), on first use.
    pub fn shared() -> &'static OidcProvider {
        static SHARED: OnceLock<OidcProvider> = OnceLock::new();
        SHARED.get_or_init(OidcProvider::start)
    }

    /// Registers a confidential client for this redirect URI (and post-logout URI); returns
    /// (client_id, client_secret). The client authenticates with client_secret_basic.
    pub async fn register_client(
        &self,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
    ) -> (String, String) {
        // A client per call: a reqwest client keeps connections on the runtime that made them,
        // and every actix test has its own runtime.
        let http = reqwest::Client::new();
        let discovery: Value = self
            .call(http.get(format!("{}/.well-known/openid-configuration", self.issuer)))
            .await;
        let endpoint = discovery["registration_endpoint"]
            .as_str()
            .expect("registration_endpoint in discovery");
        let client = self
            .call(http.post(endpoint).json(&serde_json::json!({
                "redirect_uris": [redirect_uri],
                "post_logout_redirect_uris": [post_logout_redirect_uri],
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            })))
            .await;
        let field = |name: &str| {
            client[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in the registration response: {client}"))
                .to_string()
        };
        (field("client_id"), field("client_secret"))
    }

    /// Adds or replaces an account at run time (keyed by its `login`; see the peer's README
    /// for the fields and their defaults).
    pub async fn upsert_account(&self, account: Value) {
        let http = reqwest::Client::new();
        self.call(
            http.post(format!("{}/__admin/accounts", self.base))
                .json(&account),
        )
        .await;
    }

    /// Sends a request to the peer and reads a JSON body; anything but a 2xx is a test failure.
    async fn call(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.unwrap_or_else(|e| {
            panic!("OIDC provider peer unreachable: {e} (log: {:?})", self.log)
        });
        let status = response.status();
        let text = response.text().await.expect("peer response body");
        assert!(
            status.is_success(),
            "OIDC provider peer answered {status}: {text} (log: {:?})",
            self.log
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("peer sent no JSON ({e}): {text}"))
    }

    fn start() -> OidcProvider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc-provider");
        install_packages(&dir);

        // One log per test binary, rewritten at each run, under target/tmp.
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let log =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oidc-provider-{binary}.log"));
        let log_file = File::create(&log).expect("create the OIDC provider peer's log file");

        let mut process = Command::new("node")
            .args(["server.mjs", "--port", "0"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start `node server.mjs` in {dir:?}: {e}"));
        let stdin = process.stdin.take().expect("piped stdin");
        let stdout = process.stdout.take().expect("piped stdout");

        // The first line says where it listens; the rest is drained so the peer never blocks
        // writing to a full pipe.
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = ready_tx.send(lines.next().and_then(Result::ok));
            lines.for_each(drop);
        });
        let line = match ready_rx.recv_timeout(READY_DEADLINE) {
            Ok(Some(line)) => line,
            Ok(None) => peer_failed(&mut process, &log, "exited before it was ready"),
            Err(_) => peer_failed(&mut process, &log, "printed no ready line within 30 s"),
        };
        let ready: Value = match serde_json::from_str(&line) {
            Ok(ready) => ready,
            Err(_) => peer_failed(
                &mut process,
                &log,
                &format!("printed {line:?} instead of its ready line"),
            ),
        };
        let text = |name: &str| ready[name].as_str().map(str::to_string);
        let (Some(issuer), Some(tenant), Some(port)) =
            (text("issuer"), text("tenant"), ready["port"].as_u64())
        else {
            peer_failed(
                &mut process,
                &log,
                &format!("printed an incomplete ready line {line:?}"),
            )
        };
        OidcProvider {
            issuer,
            tenant,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _stdin: stdin,
            _process: process,
        }
    }
}

/// Stops a peer that failed to start and fails the test with what it wrote to stderr.
fn peer_failed(process: &mut Child, log: &Path, why: &str) -> ! {
    let _ = process.kill();
    let _ = process.wait();
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    panic!("the OIDC provider peer {why}; its stderr ({log:?}):\n{stderr}")
}

/// Runs `npm ci` in the peer's folder when its packages are missing, so `cargo test` works on a
/// fresh clone. The versions come from the committed package-lock.json.
fn install_packages(dir: &Path) {
    for (tool, why) in [("node", "run"), ("npm", "install")] {
        match Command::new(tool).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "`{tool}` is needed to {why} the OIDC provider test peer ({dir:?}): install \
                 Node.js 20 or later with npm (Debian 12's own nodejs 18 is too old)"
            ),
        }
    }
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdout(Stdio::null()) // test output is no place for npm's progress
        .status()
        .unwrap_or_else(|e| panic!("could not run `npm ci` in {dir:?}: {e}"));
    assert!(
        status.success(),
        "`npm ci --no-audit --no-fund` failed in {dir:?} ({status}); run it there by hand to see why"
    );
}
