//! A real browser for page tests: Debian's headless Chromium driven over WebDriver
//! (`/usr/bin/chromedriver`, the `thirtyfour` crate). One chromedriver per test binary,
//! started on first use and gone when the binary exits; a fresh Chromium (its own empty
//! profile) per `Window`, in the language the test asks for. Here: starting the driver, the
//! window, and the few steps page tests are written in (open, sign in, click a button by its
//! words, fill a labelled field, read the h1), axe-core's accessibility check and full-page
//! screenshots into `target/screenshots/`. No page logic.
//!
//! Without chromium or chromedriver, `Window::open` returns `None` after a loud message, so a
//! developer machine without them skips the test; when `ROTA_REQUIRE_PEERS` is set (as
//! `.ci/run` does) it fails instead. `ROTA_CHROMIUM_BIN` and `ROTA_CHROMEDRIVER_BIN` name other
//! binaries. Nothing here ever downloads a browser.

use super::{TestApp, TestDatabase};
use base64::Engine;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

/// How long chromedriver may take to answer `/status` with `ready`.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long the finders wait for an element to appear (a page load, a redirect).
const FIND_DEADLINE: Duration = Duration::from_secs(10);
/// How long axe may take on one page.
const AXE_DEADLINE: Duration = Duration::from_secs(30);

/// The languages a window can ask pages in (`--lang` and `Accept-Language`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    English,
    Japanese,
}

impl Language {
    /// The BCP 47 tag Chromium is started with and puts in `Accept-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Japanese => "ja",
        }
    }

    /// What Chromium sends as `Accept-Language` (its `intl.accept_languages` pref).
    fn accept_languages(self) -> &'static str {
        match self {
            Language::English => "en-US,en",
            Language::Japanese => "ja,ja-JP",
        }
    }
}

/// The chromedriver of this test binary.
pub struct Chromedriver {
    /// `http://127.0.0.1:PORT`, what sessions are opened at.
    url: String,
    /// Its log (`--log-path`), named in failures.
    log: PathBuf,
    chromium: PathBuf,
    /// Held open for the life of the test binary: the shell that started chromedriver kills
    /// its process group (chromedriver and every Chromium it started) when this closes, so a
    /// test binary that exits or dies never leaves a browser behind.
    _stdin: ChildStdin,
    _process: Child,
}

impl Chromedriver {
    /// Started once per test binary (std::sync::OnceLock), on first use; `None` when chromium
    /// or chromedriver is missing and `ROTA_REQUIRE_PEERS` is unset.
    pub fn shared() -> Option<&'static Chromedriver> {
        static SHARED: OnceLock<Option<Chromedriver>> = OnceLock::new();
        SHARED.get_or_init(Chromedriver::start).as_ref()
    }

    fn start() -> Option<Chromedriver> {
        let chromium = binary("ROTA_CHROMIUM_BIN", "/usr/bin/chromium");
        let driver = binary("ROTA_CHROMEDRIVER_BIN", "/usr/bin/chromedriver");
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            skip_or_fail();
            return None;
        };
        let binary_name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let log =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chromedriver-{binary_name}.log"));
        for _ in 0..10 {
            let port = low_port();
            // `sh` leads a new process group; chromedriver and its browsers join it. When our
            // end of its stdin closes (this process exited), `read` returns and the group goes.
            let mut process = Command::new("sh")
                .arg("-c")
                .arg(r#""$1" --port="$2" --log-path="$3" >/dev/null 2>&1 </dev/null & read _; kill -TERM 0"#)
                .arg("sh")
                .arg(&driver)
                .arg(port.to_string())
                .arg(&log)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {driver:?}: {e}"));
            let stdin = process.stdin.take().expect("piped stdin");
            if wait_ready(port) {
                return Some(Chromedriver {
                    url: format!("http://127.0.0.1:{port}"),
                    log,
                    chromium,
                    _stdin: stdin,
                    _process: process,
                });
            }
            // Not ready: most likely its port was taken meanwhile. Closing stdin ends it.
            drop(stdin);
            let _ = process.wait();
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("chromedriver did not become ready on any of 10 ports; its log ({log:?}):\n{text}")
    }
}

/// `/usr/bin/...`, or what `var` names (missing if that is not a file).
fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    path.is_file().then_some(path)
}

fn skip_or_fail() {
    let required = std::env::var_os("ROTA_REQUIRE_PEERS").is_some_and(|v| !v.is_empty());
    assert!(
        !required,
        "chromium and chromedriver are not installed (apt-get install chromium \
         chromium-driver, or set ROTA_CHROMIUM_BIN and ROTA_CHROMEDRIVER_BIN), and \
         ROTA_REQUIRE_PEERS is set: this test may not skip"
    );
    // Straight to the process's stderr: libtest captures `eprintln!` of a passing test, and
    // a skip must show in a plain `cargo test`.
    let _ = std::io::stderr().write_all(
        b"\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
          !!! SKIPPED: chromium or chromedriver is not installed, so this browser test\n\
          !!! checked nothing. apt-get install chromium chromium-driver (or set\n\
          !!! ROTA_CHROMIUM_BIN and ROTA_CHROMEDRIVER_BIN); set ROTA_REQUIRE_PEERS=1 to\n\
          !!! make this a failure.\n\
          !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n",
    );
}

/// A port below 32768 (the conventions' range for peers), free when asked.
fn low_port() -> u16 {
    loop {
        let port = 10_000 + (rand::random::<u16>() % 22_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls chromedriver's `/status` until it says ready; false after the deadline.
fn wait_ready(port: u16) -> bool {
    let until = Instant::now() + READY_DEADLINE;
    while Instant::now() < until {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request = format!(
                "GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            );
            // Read until it says ready: chromedriver keeps the connection open.
            let mut answer = Vec::new();
            let mut chunk = [0u8; 4096];
            if stream.write_all(request.as_bytes()).is_ok() {
                while let Ok(n @ 1..) = stream.read(&mut chunk) {
                    answer.extend_from_slice(&chunk[..n]);
                    if String::from_utf8_lossy(&answer).contains("\"ready\":true") {
                        return true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// An axe-core violation, as `axe.run()` reports it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    /// The CSS selectors of the elements at fault.
    pub targets: Vec<String>,
}

impl Violation {
    /// Serious and critical violations fail a page; minor and moderate ones are reported.
    pub fn fails(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {} at {}",
            self.impact,
            self.id,
            self.help,
            self.targets.join(", ")
        )
    }
}

/// A browser window for one test: its own Chromium (fresh profile) in one language, on one
/// test app.
pub struct Window {
    pub driver: WebDriver,
    /// The test app's `http://127.0.0.1:PORT`.
    pub base: String,
    pub language: Language,
    /// `sqlite` or `postgres`, for screenshot names.
    backend: &'static str,
    /// Chromium's `--user-data-dir`, removed with the window.
    _profile: tempfile::TempDir,
}

impl Window {
    /// A new Chromium at `app` asking for English pages; `None` (after saying so) when the
    /// browser is not installed and `ROTA_REQUIRE_PEERS` is unset.
    pub async fn open(app: &TestApp) -> Option<Window> {
        Self::open_in(app, Language::English).await
    }

    /// A new Chromium at `app` in `language`: `--lang` (the UI and `navigator.language`) and
    /// `intl.accept_languages` (the `Accept-Language` header pages are chosen by).
    pub async fn open_in(app: &TestApp, language: Language) -> Option<Window> {
        let chromedriver = Chromedriver::shared()?;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&chromedriver.chromium.to_string_lossy())
            .unwrap();
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--lang={}", language.tag()),
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_experimental_option(
            "prefs",
            json!({"intl": {"accept_languages": language.accept_languages()}}),
        )
        .unwrap();
        let driver = WebDriver::new(chromedriver.url.clone(), caps)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium: {e} (log: {:?})",
                    chromedriver.log
                )
            });
        driver
            .set_script_timeout(AXE_DEADLINE)
            .await
            .expect("script timeout");
        Some(Window {
            driver,
            base: app.base.clone(),
            language,
            backend: match app.database {
                TestDatabase::Sqlite { .. } => "sqlite",
                TestDatabase::Postgres { .. } => "postgres",
            },
            _profile: profile,
        })
    }

    /// Closes the browser. Call it at the end of each test: a window dropped without it
    /// (a failed test) is closed by thirtyfour on a thread of its own, more slowly.
    pub async fn close(self) {
        let _ = self.driver.quit().await;
    }

    /// The app's URL of `path` (absolute URLs are kept).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Opens `path` of the app (or an absolute URL) and waits for the page to load.
    pub async fn visit(&self, path: &str) {
        self.driver
            .goto(self.url(path))
            .await
            .unwrap_or_else(|e| panic!("could not open {path}: {e}"));
    }

    /// Signs in as `login` through the OIDC provider peer (its headless sign-in by
    /// `login_hint`), landing where the app sends a new session: the home page. The app must
    /// be built with `.oidc(OidcProvider::shared())`.
    pub async fn sign_in(&self, login: &str) {
        self.sign_in_to(login, None).await;
    }

    /// Signs in as `login` and comes back to `return_to` (a path of the app).
    pub async fn sign_in_to(&self, login: &str, return_to: Option<&str>) {
        let login: String = url::form_urlencoded::byte_serialize(login.as_bytes()).collect();
        let mut path = format!("/auth/oidc/login?login_hint={login}");
        if let Some(back) = return_to {
            let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            path.push_str(&format!("&return_to={back}"));
        }
        self.visit(&path).await;
        let at = self.path().await;
        assert!(
            !at.starts_with("/auth/"),
            "signing in as {login} stopped at {at}: {}",
            self.text().await
        );
    }

    /// The path (and query) the window shows now.
    pub async fn path(&self) -> String {
        let url = self.driver.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.read("document.body ? document.body.innerText : null", "text")
            .await
    }

    /// What `expression` (JavaScript) gives on the page now shown, as text, waiting while it
    /// gives null or the page is between two documents (a form post still loading): read in
    /// one script, so no element goes stale between finding and reading it.
    async fn read(&self, expression: &str, what: &str) -> String {
        let until = Instant::now() + FIND_DEADLINE;
        let script = format!("return {expression};");
        loop {
            let failure = match self.driver.execute(script.as_str(), Vec::new()).await {
                Ok(r) => match r.json() {
                    Value::String(s) => return s.clone(),
                    other => format!("it gave {other}"),
                },
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < until,
                "could not read the page's {what}: {failure}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The words the page writes for people in its own language (`<html lang>`): every text
    /// outside code (`pre`, `code`, `kbd`, `samp`, scripts and styles) and outside elements
    /// marked as another language, a line per text node, hidden ones (a closed `details`)
    /// included.
    pub async fn prose(&self) -> String {
        self.read(
            r#"(() => {
                 if (!document.body) return null;
                 const own = (document.documentElement.lang || '').split('-')[0];
                 const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                 const out = [];
                 for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                   const words = n.nodeValue.trim();
                   const tagged = n.parentElement.closest('[lang]');
                   const lang = tagged ? tagged.lang.split('-')[0] : own;
                   if (words && lang === own && !n.parentElement.closest('pre, code, kbd, samp, script, style')) out.push(words);
                 }
                 return out.join('\n');
               })()"#,
            "prose",
        )
        .await
    }

    /// Whether the page's visible text contains `words`.
    pub async fn shows(&self, words: &str) -> bool {
        self.text().await.contains(words)
    }

    /// Fails unless the page's visible text contains `words` (waiting for it a little: a
    /// form post may still be loading).
    pub async fn assert_shows(&self, words: &str) {
        let until = Instant::now() + FIND_DEADLINE;
        loop {
            let text = self.text().await;
            if text.contains(words) {
                return;
            }
            assert!(
                Instant::now() < until,
                "expected {words:?} on {}; the page says:\n{text}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the page's (first) h1.
    pub async fn h1(&self) -> String {
        self.read(
            "(document.querySelector('h1') || {}).innerText || null",
            "h1",
        )
        .await
    }

    /// The `lang` of the page's `<html>` (empty when it has none).
    pub async fn lang(&self) -> String {
        self.read(
            "document.documentElement ? document.documentElement.lang : null",
            "<html lang>",
        )
        .await
    }

    /// Fails unless the page now shown is in Japanese: `<html lang="ja">` and an h1 written
    /// in Japanese (kana or kanji), for pages shown to a Japanese browser or person.
    pub async fn assert_japanese(&self) {
        let (lang, h1) = (self.lang().await, self.h1().await);
        assert!(
            lang == "ja" || lang.starts_with("ja-"),
            "{} has <html lang={lang:?}>, not ja; its h1 is {h1:?}",
            self.path().await
        );
        assert!(
            h1.chars().any(is_japanese),
            "{} has lang=ja but its h1 {h1:?} has no Japanese in it",
            self.path().await
        );
    }

    /// The first element `by` finds, waiting for it; a failure names `what` and the page.
    pub async fn find(&self, by: By, what: &str) -> WebElement {
        match self
            .driver
            .query(by)
            .wait(FIND_DEADLINE, Duration::from_millis(50))
            .first()
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no {what} on {}: {e}; the page says:\n{}",
                self.path().await,
                self.text().await
            ),
        }
    }

    /// The button (or submit input) whose words are `words`.
    pub async fn button(&self, words: &str) -> WebElement {
        let text = xpath_literal(words);
        self.find(
            By::XPath(format!(
                "//button[normalize-space(.)={text}] | //input[(@type='submit' or @type='button') and @value={text}]"
            )),
            &format!("button {words:?}"),
        )
        .await
    }

    /// Clicks the button whose words are `words` and waits for the page it leads to.
    pub async fn click_button(&self, words: &str) {
        let button = self.button(words).await;
        self.follow(button, &format!("button {words:?}")).await;
    }

    /// Clicks the link whose words are `words` and waits for the page it leads to.
    pub async fn click_link(&self, words: &str) {
        let link = self
            .find(
                By::XPath(format!("//a[normalize-space(.)={}]", xpath_literal(words))),
                &format!("link {words:?}"),
            )
            .await;
        self.follow(link, &format!("link {words:?}")).await;
    }

    /// Clicks `element` (`what`, in failures), which leads to another page, and waits until
    /// that page has replaced this one: reading the page straight after a click could still
    /// read the old one.
    pub async fn follow(&self, element: WebElement, what: &str) {
        self.driver
            .execute("window.__rotaLeaving = true;", Vec::new())
            .await
            .unwrap_or_else(|e| panic!("could not mark the page before clicking {what}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("could not click {what}: {e}"));
        self.wait_for_next_page(what).await;
    }

    /// Waits until the page marked by `__rotaLeaving` has been replaced and the new one loaded.
    async fn wait_for_next_page(&self, what: &str) {
        self.read(
            "(window.__rotaLeaving === undefined && document.readyState === 'complete') ? 'loaded' : null",
            &format!("page after {what}"),
        )
        .await;
    }

    /// The form field labelled `label` (`<label for>` or a field inside its label).
    pub async fn field(&self, label: &str) -> WebElement {
        let text = xpath_literal(label);
        let fields = "self::input or self::select or self::textarea";
        self.find(
            By::XPath(format!(
                "//*[({fields}) and @id=//label[normalize-space(.)={text}]/@for] \
                 | //label[normalize-space(.)={text}]//*[{fields}]"
            )),
            &format!("field labelled {label:?}"),
        )
        .await
    }

    /// Replaces what the field labelled `label` holds with `value`.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear the field");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("could not type into {label:?}: {e}"));
    }

    /// Attaches the file at `path` to the file field labelled `label`.
    pub async fn attach(&self, label: &str, path: &Path) {
        self.field(label)
            .await
            .send_keys(path.to_string_lossy())
            .await
            .unwrap_or_else(|e| panic!("could not attach {path:?} to {label:?}: {e}"));
    }

    /// How many elements the CSS `selector` finds on the page now shown.
    pub async fn count(&self, selector: &str) -> usize {
        let expression = format!(
            "String(document.querySelectorAll({}).length)",
            json!(selector)
        );
        let n = self.read(&expression, selector).await;
        n.parse()
            .unwrap_or_else(|_| panic!("counting {selector} gave {n:?}"))
    }

    /// The visible text of each element the CSS `selector` finds, in document order.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let expression = format!(
            "JSON.stringify(Array.from(document.querySelectorAll({})).map(e => e.innerText === undefined ? e.textContent : e.innerText))",
            json!(selector)
        );
        serde_json::from_str(&self.read(&expression, selector).await).expect("a list of texts")
    }

    /// The cells (`th` and `td`, as text) of each body row of the first table `selector` finds.
    pub async fn rows(&self, selector: &str) -> Vec<Vec<String>> {
        let expression = format!(
            "(t => t ? JSON.stringify(Array.from(t.tBodies).flatMap(b => Array.from(b.rows)).map(r => Array.from(r.cells).map(c => c.innerText.trim()))) : null)(document.querySelector({}))",
            json!(selector)
        );
        serde_json::from_str(&self.read(&expression, &format!("table {selector}")).await)
            .expect("a list of rows")
    }

    /// The `href` of each element the CSS `selector` finds, as written in the page.
    pub async fn hrefs(&self, selector: &str) -> Vec<String> {
        let expression = format!(
            "JSON.stringify(Array.from(document.querySelectorAll({})).map(a => a.getAttribute('href')))",
            json!(selector)
        );
        serde_json::from_str(&self.read(&expression, selector).await).expect("a list of links")
    }

    /// The HTTP status the page now shown was answered with (Navigation Timing).
    pub async fn status(&self) -> u16 {
        let status = self
            .read(
                "(e => e && e.responseStatus ? String(e.responseStatus) : null)(performance.getEntriesByType('navigation')[0])",
                "HTTP status",
            )
            .await;
        status.parse().expect("a status code")
    }

    /// The CSRF token the page's forms carry (every page has one, in its sign-out form).
    pub async fn csrf(&self) -> String {
        self.read(
            "(i => i ? i.value : null)(document.querySelector('input[name=csrf_token]'))",
            "CSRF token",
        )
        .await
    }

    /// Posts a form the page never offered: one made on the page now shown with `fields`,
    /// sent to `action` as a person's browser would send it (same origin, the session's
    /// cookie); waits for the answer to be shown.
    pub async fn submit_form(&self, action: &str, fields: &[(&str, &str)]) {
        let fields: Vec<Value> = fields.iter().map(|(n, v)| json!([n, v])).collect();
        self.driver
            .execute(
                r#"window.__rotaLeaving = true;
                   const form = document.createElement('form');
                   form.method = 'post';
                   form.action = arguments[0];
                   for (const [name, value] of arguments[1]) {
                     const input = document.createElement('input');
                     input.type = 'hidden';
                     input.name = name;
                     input.value = value;
                     form.appendChild(input);
                   }
                   document.body.appendChild(form);
                   form.submit();"#,
                vec![json!(action), Value::Array(fields)],
            )
            .await
            .unwrap_or_else(|e| panic!("could not post a form to {action}: {e}"));
        self.wait_for_next_page(&format!("the form posted to {action}"))
            .await;
    }

    /// Runs axe-core on the page now shown (`page` names it in failures) and returns every
    /// violation. The script is injected through WebDriver, which the pages'
    /// Content-Security-Policy (no script at all) does not apply to.
    pub async fn axe(&self, page: &str) -> Vec<Violation> {
        let source = axe_source();
        self.driver
            .execute(source.as_str(), Vec::new())
            .await
            .unwrap_or_else(|e| panic!("could not inject axe-core into {page}: {e}"));
        let result = self
            .driver
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ["violations"] })
                     .then(r => done({ ok: r.violations }), e => done({ error: String(e) }));"#,
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core did not run on {page}: {e}"));
        let result = result.json();
        if let Some(error) = result["error"].as_str() {
            panic!("axe-core failed on {page}: {error}");
        }
        result["ok"]
            .as_array()
            .unwrap_or_else(|| panic!("axe-core returned {result} on {page}"))
            .iter()
            .map(|v| Violation {
                id: v["id"].as_str().unwrap_or_default().into(),
                impact: v["impact"].as_str().unwrap_or("unknown").into(),
                help: v["help"].as_str().unwrap_or_default().into(),
                targets: v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| match &n["target"] {
                        Value::Array(parts) => parts
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => other.to_string(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Fails listing every serious or critical axe-core violation of the page now shown;
    /// minor and moderate ones are written to stderr.
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe(page).await;
        let (failing, noted): (Vec<_>, Vec<_>) = violations.iter().partition(|v| v.fails());
        for v in &noted {
            eprintln!("axe on {page} (not failing): {v}");
        }
        assert!(
            failing.is_empty(),
            "axe-core found {} serious or critical violation(s) on {page} ({}):\n{}",
            failing.len(),
            self.path().await,
            failing
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// A full-page PNG into `target/screenshots/{name}-{language}-{backend}.png` (a
    /// reviewer's look at the page); returns the file.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let file = dir.join(format!(
            "{name}-{}-{}.png",
            self.language.tag(),
            self.backend
        ));
        // Chromium's own capture of the whole document, not just the viewport.
        let shot = self
            .driver
            .cdp()
            .send_raw(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {file:?}: {e}"));
        file
    }
}

/// `target/screenshots` of this build (beside the test binaries' `target`).
pub fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`, wherever CARGO_TARGET_DIR puts the target.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("screenshots")
}

/// axe-core's `axe.min.js` from `tests/peers/axe` (installed by `npm ci` there when missing).
fn axe_source() -> &'static String {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/axe");
        let script = dir.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("could not run `npm ci` in {dir:?} for axe-core: {e}"));
            assert!(
                status.success(),
                "`npm ci --no-audit --no-fund` failed in {dir:?} ({status}); run it there by hand to see why"
            );
        }
        std::fs::read_to_string(&script).unwrap_or_else(|e| panic!("read {script:?}: {e}"))
    })
}

/// `s` as an XPath 1.0 string literal (which has no escapes: quotes are joined by concat).
fn xpath_literal(s: &str) -> String {
    if !s.contains('"') {
        format!("\"{s}\"")
    } else if !s.contains('\'') {
        format!("'{s}'")
    } else {
        let parts: Vec<String> = s.split('"').map(|p| format!("\"{p}\"")).collect();
        format!("concat({})", parts.join(", '\"', "))
    }
}

/// Hiragana, katakana or a CJK ideograph.
pub fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{ff66}'..='\u{ff9f}')
}
