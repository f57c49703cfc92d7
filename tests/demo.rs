//! `rota serve --demo` as a newcomer runs it: the real binary seeds its sample organisation on
//! a new SQLite file, through its own interfaces, then a visitor signs in as each sample person
//! and sees the product as them, triggers a sample alert, and finds the call it would have made
//! on the outbox page. The demo refuses an existing database and a non-loopback address, and a
//! server that is not a demo has none of these pages. (SQLite only: the demo never runs on
//! another database.)

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::rota_command as rota;

use support::smtp::free_port;

/// A running demo, killed when the test ends.
struct Demo {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts `rota serve --demo` and waits for "Demo ready" (the seeding is done).
    fn start(dir: &Path) -> Demo {
        let listen = format!("127.0.0.1:{}", free_port());
        let db = dir.join("demo.db");
        let mut child = rota(
            dir,
            &[("ROTA_LISTEN", &listen)],
            &["serve", "--demo", "--demo-database", db.to_str().unwrap()],
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("demo.log")).unwrap())
        .spawn()
        .unwrap();
        let (lines, got) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            match got.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let ready = line.contains("Demo ready");
                    stdout.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let log = std::fs::read_to_string(dir.join("demo.log")).unwrap_or_default();
                        panic!("rota serve --demo exited with {status}: {stdout:?}\n{log}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the demo was not ready in 240 s: {stdout:?}"
                    );
                }
            }
        }
        Demo {
            child,
            base: format!("http://{listen}"),
            stdout,
        }
    }

    fn visitor(&self, lang: &str) -> Visitor {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Accept-Language", lang.parse().unwrap());
        Visitor {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }
}

struct Visitor {
    http: reqwest::Client,
    base: String,
}

impl Visitor {
    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts a form from this service's own pages; the status and where it sends us.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap();
        let to = res
            .headers()
            .get("Location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (res.status().as_u16(), to, res.text().await.unwrap())
    }

    /// Signs in through the sample sign-in as `name`.
    async fn sign_in_as(&self, name: &str) {
        let (status, page) = self.get("/demo").await;
        assert_eq!(status, 200, "{page}");
        let (token, user) = persona_form(&page, name);
        let (status, to, body) = self
            .post("/demo/sign-in", &[("csrf_token", &token), ("user", &user)])
            .await;
        assert_eq!((status, to.as_str()), (303, "/"), "{body}");
        let (status, home) = self.get("/").await;
        assert_eq!(status, 200);
        assert!(home.contains(name), "home does not name {name}: {home}");
    }
}

/// The hidden value of `name` in an HTML fragment.
fn hidden(form: &str, name: &str) -> String {
    let at = form
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {form}"));
    let rest = &form[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The sample sign-in form for `name`: its token and user id.
fn persona_form(page: &str, name: &str) -> (String, String) {
    let form = page
        .split("<form")
        .find(|f| f.contains(&format!("Sign in as {name}")))
        .unwrap_or_else(|| panic!("no sample sign-in for {name}"));
    (hidden(form, "csrf_token"), hidden(form, "user"))
}

#[actix_web::test]
async fn the_demo_seeds_an_organisation_and_a_visitor_sees_it_as_each_person() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    assert!(
        demo.stdout.iter().any(|l| l.contains("never sent")),
        "{:?}",
        demo.stdout
    );

    // Signed out: the home page points to the sample sign-in, which offers six people.
    let anyone = demo.visitor("en");
    let (status, home) = anyone.get("/").await;
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/demo\""), "{home}");
    let (_, page) = anyone.get("/demo").await;
    assert_eq!(page.matches("Sign in as ").count(), 6, "{page}");
    // A forged sign-in: no form token, or someone not offered.
    let (_, user) = persona_form(&page, "Tom Hughes");
    let (status, _, _) = anyone
        .post("/demo/sign-in", &[("csrf_token", "x"), ("user", &user)])
        .await;
    assert_eq!(status, 403);
    let (token, _) = persona_form(&page, "Tom Hughes");
    let (status, _, _) = anyone
        .post(
            "/demo/sign-in",
            &[("csrf_token", &token), ("user", "PNOBODY")],
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = anyone.get("/incidents").await;
    assert_eq!(status, 303, "still signed out");

    // Tom, on the Platform rotation: his shifts, the open incidents, a month of resolved ones.
    let tom = demo.visitor("en");
    tom.sign_in_as("Tom Hughes").await;
    let (status, shifts) = tom.get("/shifts").await;
    assert_eq!(status, 200);
    assert!(shifts.contains("Platform primary"), "{shifts}");
    let (_, open) = tom.get("/incidents").await;
    for title in [
        "Checkout error rate above 5% (eu-west)",
        "Node not ready: node-7 (eu-west)",
        "Crash rate above 2% on iOS 18.2",
    ] {
        assert!(open.contains(title), "{title} is not open: {open}");
    }
    let (_, resolved) = tom
        .get("/incidents?statuses[]=resolved&date_range=all&limit=100")
        .await;
    assert!(
        resolved.matches("href=\"/incidents/").count() >= 20,
        "{resolved}"
    );

    // He triggers a sample alert: it opens an incident on the sample service, and the call to
    // whoever is on call at level 1 waits on the outbox page.
    let (_, outbox) = tom.get("/demo/outbox").await;
    let token = hidden(&outbox, "csrf_token");
    let (status, to, _) = tom.post("/demo/alert", &[("csrf_token", "wrong")]).await;
    assert_eq!((status, to.as_str()), (403, ""));
    let (status, to, _) = tom.post("/demo/alert", &[("csrf_token", &token)]).await;
    assert_eq!(status, 303);
    assert!(to.starts_with("/incidents/"), "{to}");
    let (status, incident) = tom.get(&to).await;
    assert_eq!(status, 200);
    assert!(incident.contains("Sample alerts"), "{incident}");
    let (_, outbox) = tom.get("/demo/outbox").await;
    assert!(
        outbox.contains(&format!("href=\"{to}\"")),
        "the sample's call is not on the outbox: {outbox}"
    );
    assert!(
        outbox.contains("Phone call") && outbox.contains("Waiting (the demo sends nothing)"),
        "{outbox}"
    );

    // Priya manages Platform SRE: its schedules, with next week's swap; the team is Entra's.
    let priya = demo.visitor("en");
    priya.sign_in_as("Priya Raman").await;
    let (_, schedules) = priya.get("/schedules").await;
    for name in [
        "Platform primary",
        "Platform secondary",
        "Payments primary",
        "Mobile business hours",
    ] {
        assert!(schedules.contains(name), "{name}: {schedules}");
    }
    let (_, teams) = priya.get("/teams").await;
    assert!(
        teams.contains("Platform SRE") && teams.contains("Customer Support"),
        "{teams}"
    );

    // Lena, the licence owner: caps nearly used, and the two newest people waiting.
    let lena = demo.visitor("en");
    lena.sign_in_as("Lena Fischer").await;
    let (status, seats) = lena.get("/seats").await;
    assert_eq!(status, 200);
    assert!(
        seats.contains("Zoe Adams") && seats.contains("Liam O&#39;Connor")
            || seats.contains("Liam O'Connor"),
        "{seats}"
    );
    assert!(seats.contains("<svg"), "no usage chart: {seats}");

    // Marcus, an admin: tokens and the audit log, where the demo's own tokens are revoked.
    let marcus = demo.visitor("en");
    marcus.sign_in_as("Marcus Webb").await;
    let (status, identity) = marcus.get("/identity").await;
    assert_eq!(status, 200, "{identity}");

    // Hannah, a stakeholder: she reads the incident she is subscribed to, and cannot act.
    let hannah = demo.visitor("en");
    hannah.sign_in_as("Hannah Scott").await;
    let (_, open) = hannah.get("/incidents").await;
    assert!(open.contains("Checkout error rate above 5% (eu-west)"));
    let (_, outbox) = hannah.get("/demo/outbox").await;
    let token = hidden(&outbox, "csrf_token");
    let (status, _, _) = hannah.post("/demo/alert", &[("csrf_token", &token)]).await;
    assert_eq!(status, 303, "anyone in the demo may trigger the sample");

    // Haruto's language is Japanese, and a Japanese browser gets the sample sign-in in Japanese.
    let haruto = demo.visitor("en");
    haruto.sign_in_as("Haruto Sato").await;
    let (_, home) = haruto.get("/").await;
    assert!(home.contains("lang=\"ja\""), "{home}");
    let (_, page) = demo.visitor("ja").get("/demo").await;
    assert!(
        page.contains("lang=\"ja\"") && page.contains("としてサインイン"),
        "{page}"
    );
}

#[test]
fn the_demo_refuses_an_existing_database_and_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("rota.db");
    std::fs::write(&existing, b"").unwrap();
    let out = rota(
        dir.path(),
        &[],
        &[
            "serve",
            "--demo",
            "--demo-database",
            existing.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--demo-database") && err.contains("already exists"),
        "{err}"
    );

    let out = rota(
        dir.path(),
        &[("ROTA_LISTEN", &format!("0.0.0.0:{}", free_port()))],
        &["serve", "--demo"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ROTA_LISTEN") && err.contains("loopback"),
        "{err}"
    );

    let out = rota(dir.path(), &[], &["serve", "--demo-database", "x.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--demo-database needs --demo");
}

mod absent {
    use super::support::send;
    use crate::on_both_backends;

    on_both_backends! {
        async fn a_server_that_is_no_demo_has_no_sample_sign_in_and_no_outbox(app) {
            for path in ["/demo", "/demo/outbox"] {
                let (status, _) = send(app.http.get(app.url(path))).await;
                assert_eq!(status, 404, "{path}");
            }
            for path in ["/demo/sign-in", "/demo/alert"] {
                let (status, _) = send(app.http.post(app.url(path)).form(&[("csrf_token", "x"), ("user", "P1")])).await;
                assert_eq!(status, 404, "{path}");
            }
        }
    }
}

/// Every page a person can reach by following links from home, then every form on them sent
/// back with hostile values, on the demo's month-old database: nothing answers 5xx, and every
/// answer to a person is a page (HTML), never JSON or an empty body.
#[actix_web::test]
async fn every_reachable_page_and_form_survives_hostile_input_on_a_used_database() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let mut forms_sent = 0;
    let mut pages_seen = 0;
    for person in ["Marcus Webb", "Lena Fischer", "Hannah Scott"] {
        let visitor = demo.visitor("en");
        visitor.sign_in_as(person).await;
        let (pages, forms) = crawl(&visitor, 250).await;
        pages_seen += pages;
        for form in forms {
            forms_sent += 1;
            let visible = form.fields.iter().any(|(_, _, hidden)| !hidden);
            if visible {
                // Control characters, a long text and a number where words go, in every field a
                // person types into; the hidden ones (ids, the CSRF token) as the page gave them.
                for hostile in [
                    "\u{1}\u{7f}bad\u{0}",
                    &"x".repeat(20_000),
                    "-99999999999999999999",
                ] {
                    let fields: Vec<(String, String)> = form
                        .fields
                        .iter()
                        .map(|(n, v, hidden)| {
                            (
                                n.clone(),
                                if *hidden {
                                    v.clone()
                                } else {
                                    hostile.to_owned()
                                },
                            )
                        })
                        .collect();
                    let res = visitor
                        .http
                        .post(format!("{}{}", demo.base, form.action))
                        .header("Origin", &demo.base)
                        .form(&fields)
                        .send()
                        .await
                        .unwrap();
                    assert_answer_is_a_page(
                        &format!("{person}: POST {} with hostile values", form.action),
                        res,
                    )
                    .await;
                }
            }
            // Over the size limit: refused before anything is read.
            let huge = format!("csrf_token=x&text={}", "a".repeat(1_100_000));
            let res = visitor
                .http
                .post(format!("{}{}", demo.base, form.action))
                .header("Origin", &demo.base)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(huge)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status().as_u16(),
                413,
                "{person}: POST {} over the limit",
                form.action
            );
            assert_answer_is_a_page(
                &format!("{person}: POST {} over the limit", form.action),
                res,
            )
            .await;
        }
    }
    eprintln!("crawled {pages_seen} pages and sent {forms_sent} forms");
    assert!(pages_seen >= 60, "only {pages_seen} pages reached");
    assert!(forms_sent >= 20, "only {forms_sent} forms found");
}

async fn assert_answer_is_a_page(what: &str, res: reqwest::Response) {
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("Content-Type")
        .map(|c| c.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap();
    assert!(status < 500, "{what}: {status} {body}");
    if !(300..400).contains(&status) {
        assert!(
            kind.starts_with("text/html"),
            "{what}: {status} {kind} {body}"
        );
        assert!(body.contains("<h1"), "{what}: {status} {body}");
    }
}

/// A form found on a page: where it posts, and its fields (name, value, hidden?).
#[derive(Debug)]
struct Form {
    action: String,
    fields: Vec<(String, String, bool)>,
}

/// Follows same-site links breadth first from home (up to `limit` pages), checking each page;
/// returns how many pages were seen and one of each form (by action path) found.
async fn crawl(visitor: &Visitor, limit: usize) -> (usize, Vec<Form>) {
    use scraper::{Html, Selector};
    let links = Selector::parse("a[href]").unwrap();
    let form_sel = Selector::parse("form[method=post]").unwrap();
    let field_sel = Selector::parse("input[name], select[name], textarea[name]").unwrap();
    let mut queue = std::collections::VecDeque::from(["/".to_owned()]);
    let mut seen = std::collections::HashSet::new();
    let mut forms: Vec<Form> = Vec::new();
    let mut pages = 0;
    while let Some(path) = queue.pop_front() {
        if pages >= limit || !seen.insert(path.clone()) {
            continue;
        }
        let res = visitor
            .http
            .get(format!("{}{path}", visitor.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let kind = res
            .headers()
            .get("Content-Type")
            .map(|c| c.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = res.text().await.unwrap();
        assert!(status < 500, "GET {path}: {status} {body}");
        pages += 1;
        if !kind.starts_with("text/html") {
            continue;
        }
        let doc = Html::parse_document(&body);
        for a in doc.select(&links) {
            let href = a.value().attr("href").unwrap_or_default();
            // This site's pages only: no API documents, feeds or sign-out.
            if href.starts_with('/')
                && !href.starts_with("//")
                && !href.starts_with("/api/")
                && !href.starts_with("/auth/")
                && !href.starts_with("/calendar/")
            {
                let href = href.split('#').next().unwrap().to_owned();
                if !seen.contains(&href) {
                    queue.push_back(href);
                }
            }
        }
        for f in doc.select(&form_sel) {
            let action = f.value().attr("action").unwrap_or(&path).to_owned();
            if action.starts_with("/auth/")
                || action.starts_with("/demo/sign-in")
                || forms.iter().any(|k| k.action == action)
            {
                continue;
            }
            let fields = f
                .select(&field_sel)
                .map(|i| {
                    let e = i.value();
                    let hidden = e.attr("type") == Some("hidden");
                    (
                        e.attr("name").unwrap().to_owned(),
                        e.attr("value").unwrap_or_default().to_owned(),
                        hidden,
                    )
                })
                .collect();
            forms.push(Form { action, fields });
        }
    }
    (pages, forms)
}
