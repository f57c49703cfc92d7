//! Case-insensitive matching of text in any script, alike on SQLite and PostgreSQL: SCIM
//! filters on every `caseExact: false` attribute and the REST `query` of users and teams
//! compare caseless keys computed in Rust (`domain::caseless`), never SQL `lower()` (ASCII
//! only on SQLite). And the upgrade: keys of rows written before them are computed at
//! migration, two names that fold into one are kept apart.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::scim::Scim;
use support::{TestApp, TestDatabase};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A user as Entra sends one, with names in Swedish, German or Japanese.
#[allow(clippy::too_many_arguments)]
fn person(
    user_name: &str,
    display: &str,
    given: &str,
    family: &str,
    nick: &str,
    title: &str,
    department: &str,
    home_email: &str,
) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "active": true,
        "displayName": display,
        "nickName": nick,
        "title": title,
        "name": {"givenName": given, "familyName": family, "formatted": display},
        "emails": [
            {"primary": true, "type": "work", "value": user_name},
            {"type": "home", "value": home_email},
        ],
        ENTERPRISE: {"department": department},
    })
}

/// The userNames a filter finds, sorted.
async fn users_found(scim: &Scim<'_>, filter: &str, resource: &str) -> Vec<String> {
    let (status, body) = scim
        .get(&format!("/{resource}?filter={}", urlencode(filter)))
        .await;
    assert_eq!(status, 200, "{filter}: {body}");
    let field = if resource == "Users" {
        "userName"
    } else {
        "displayName"
    };
    let mut found: Vec<String> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect();
    found.sort();
    assert_eq!(body["totalResults"], found.len(), "{filter}: {body}");
    found
}

async fn query(app: &TestApp, path: &str, text: &str) -> Vec<String> {
    let (status, body) = app
        .get(&format!("{path}?total=true&query={}", urlencode(text)))
        .await;
    assert_eq!(status, 200, "{text}: {body}");
    let list = if path.ends_with("users") {
        "users"
    } else {
        "teams"
    };
    let mut names: Vec<String> = body[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

on_both_backends! {
    async fn scim_filters_and_rest_search_ignore_case_in_every_script(app) {
        let scim = app.scim();
        for body in [
            person("asa@contoso.se", "Åsa Öberg", "Åsa", "Öberg", "Åsa", "Säljare", "Försäljning", "åsa@exempel.se"),
            person("juergen@contoso.de", "Jürgen Groß", "Jürgen", "Groß", "Jürg", "Leiter Straßenbau", "Straßenbau", "juergen@beispiel.de"),
            person("taro@contoso.jp", "山田 太郎", "太郎", "山田", "ＴＡＲＯ", "エンジニア", "開発部", "taro@example.jp"),
            person("ola@contoso.se", "Ola Berg", "Ola", "Berg", "Ola", "SRE", "Drift", "ola@exempel.se"),
        ] {
            let (status, created) = scim.send_json(Method::POST, "/Users", body).await;
            assert_eq!(status, 201, "{created}");
        }
        let asa = vec!["asa@contoso.se".to_string()];
        let juergen = vec!["juergen@contoso.de".to_string()];
        let taro = vec!["taro@contoso.jp".to_string()];
        let ola = vec!["ola@contoso.se".to_string()];
        let nobody: Vec<String> = Vec::new();
        let cases: Vec<(&str, &Vec<String>)> = vec![
            // Swedish: å, ö in either case.
            ("displayName eq \"åsa öberg\"", &asa),
            ("displayName eq \"ÅSA ÖBERG\"", &asa),
            ("displayName co \"SA ÖB\"", &asa),
            ("displayName sw \"åSA\"", &asa),
            ("displayName ew \"ÖBERG\"", &asa),
            ("displayName ne \"ÅSA ÖBERG\" and displayName ew \"berg\"", &ola),
            ("name.familyName eq \"ÖBERG\"", &asa),
            ("name.givenName sw \"Å\"", &asa),
            ("name.formatted eq \"ÅSA ÖBERG\"", &asa),
            ("nickName eq \"ÅSA\"", &asa),
            ("title eq \"SÄLJARE\"", &asa),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"FÖRSÄLJNING\"", &asa),
            ("emails[type eq \"HOME\" and value eq \"ÅSA@EXEMPEL.SE\"]", &asa),
            ("emails.value co \"Åsa@\"", &asa),
            // German: ß is "ss" in upper case, so GROSS is Groß ignoring case (full case folding).
            ("displayName eq \"JÜRGEN GROSS\"", &juergen),
            ("displayName eq \"jürgen groß\"", &juergen),
            ("name.familyName eq \"GROSS\"", &juergen),
            ("name.familyName eq \"groß\"", &juergen),
            ("title co \"STRASSE\"", &juergen),
            ("title co \"straße\"", &juergen),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw \"STRASS\"", &juergen),
            // Japanese: no case, so only the same text matches; full-width Latin has case.
            ("displayName eq \"山田 太郎\"", &taro),
            ("displayName co \"太郎\"", &taro),
            ("name.familyName sw \"山田\"", &taro),
            ("name.givenName ew \"太郎\"", &taro),
            ("nickName eq \"ｔａｒｏ\"", &taro),
            ("nickName eq \"ＴａＲｏ\"", &taro),
            ("title eq \"エンジニア\"", &taro),
            // Only case is ignored: width, kana and accents still count.
            ("nickName eq \"taro\"", &nobody),
            ("title eq \"えんじにあ\"", &nobody),
            ("displayName eq \"Asa Oberg\"", &nobody),
        ];
        for (filter, expected) in cases {
            assert_eq!(&users_found(&scim, filter, "Users").await, expected, "{filter}");
        }

        for name in ["Försäljning Öst", "Straßenbau", "開発部", "ＳＲＥ"] {
            let (status, body) = scim.send_json(Method::POST, "/Groups", json!({"schemas": [GROUP], "displayName": name})).await;
            assert_eq!(status, 201, "{name}: {body}");
        }
        for (filter, expected) in [
            ("displayName eq \"FÖRSÄLJNING ÖST\"", vec!["Försäljning Öst"]),
            ("displayName eq \"STRASSENBAU\"", vec!["Straßenbau"]),
            ("displayName eq \"開発部\"", vec!["開発部"]),
            ("displayName eq \"ｓｒｅ\"", vec!["ＳＲＥ"]),
            ("displayName eq \"SRE\"", vec![]),
        ] {
            assert_eq!(users_found(&scim, filter, "Groups").await, expected, "{filter}");
        }
        // A group name that differs only in case is the same name.
        let (status, body) = scim.send_json(Method::POST, "/Groups", json!({"schemas": [GROUP], "displayName": "STRASSENBAU"})).await;
        assert_eq!(status, 409, "{body}");

        // REST search of users (name, user name, e-mail) and teams.
        for (text, expected) in [
            ("Åsa", vec!["Åsa Öberg"]),
            ("öBERG", vec!["Åsa Öberg"]),
            ("GROSS", vec!["Jürgen Groß"]),
            ("ß", vec!["Jürgen Groß"]),
            ("太郎", vec!["山田 太郎"]),
            ("berg", vec!["Ola Berg", "Åsa Öberg"]),
        ] {
            assert_eq!(query(&app, "/api/v2/users", text).await, expected, "{text}");
        }
        for (text, expected) in [
            ("öst", vec!["Försäljning Öst"]),
            ("STRASSE", vec!["Straßenbau"]),
            ("開発", vec!["開発部"]),
            ("ｓｒ", vec!["ＳＲＥ"]),
        ] {
            assert_eq!(query(&app, "/api/v2/teams", text).await, expected, "{text}");
        }
        // Keys follow users made and changed through REST too.
        let orjan = app.user("Örjan Ängström", "orjan@example.se").await;
        assert_eq!(query(&app, "/api/v2/users", "ÄNGSTRÖM").await, vec!["Örjan Ängström"]);
        let (status, body) = app.put(&format!("/api/v2/users/{orjan}"), json!({"user": {"name": "Örjan Åkesson", "email": "orjan@example.se"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(query(&app, "/api/v2/users", "ÄNGSTRÖM").await, Vec::<String>::new());
        assert_eq!(query(&app, "/api/v2/users", "ÅKESSON").await, vec!["Örjan Åkesson"]);
        assert_eq!(users_found(&scim, "displayName eq \"ÖRJAN ÅKESSON\"", "Users").await, vec!["orjan@example.se"]);
    }
}

/// Rows written before the caseless keys existed get them at migration; names that fold into
/// one (`Maße` and `MASSE`, `groß@…` and `gross@…`) both stay, the one whose key would
/// change keeping its old key.
fn keys_of_earlier_rows_are_computed_at_migration(database: TestDatabase) {
    use diesel::prelude::*;
    use diesel_migrations::MigrationHarness;
    use rota::domain::ids::{ContactMethodId, TeamId};
    use rota::store::schema::{contact_methods, teams, users};
    use rota::store::{self, DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    use rota::store::{teams::Team, users::ContactMethod, users::User};

    let mut conn = store::Connector::new(database.url().clone())
        .connect()
        .unwrap();
    // The schema as it was before the keys: every migration but the last.
    let before_keys = store::pending_migrations(&mut conn).unwrap() - 1;
    for _ in 0..before_keys {
        match &mut conn {
            DbConnection::Sqlite(c) => drop(c.run_next_migration(SQLITE_MIGRATIONS).unwrap()),
            DbConnection::Postgres(c) => drop(c.run_next_migration(POSTGRES_MIGRATIONS).unwrap()),
        }
    }
    let now = rota::clock::stored(chrono::Utc::now());
    let later = now + chrono::Duration::seconds(1);
    // As the code before wrote them: keys lower-cased by Rust's `to_lowercase`.
    let old_user = |user_name: &str, name: &str, at| User {
        user_name_key: user_name.trim().to_lowercase(),
        department: Some("Försäljning".into()),
        created_at: at,
        ..User::new(
            user_name,
            name.into(),
            rota::domain::user::ProvisionedBy::Scim,
            at,
        )
    };
    let asa = old_user("asa@contoso.se", "Åsa Öberg", now);
    let gross = old_user("gross@contoso.de", "Jürgen Gross", now);
    let gross_eszett = old_user("groß@contoso.de", "Jürgen Groß", later);
    for u in [&asa, &gross, &gross_eszett] {
        diesel::insert_into(users::table)
            .values(u)
            .execute(&mut conn)
            .unwrap();
    }
    let method = ContactMethod {
        id: ContactMethodId::generate(),
        user_id: asa.id.clone(),
        kind: rota::domain::user::ContactKind::Email,
        label: "Hem".into(),
        address: "ÅSA@exempel.se".into(),
        is_primary: false,
        created_at: now,
        updated_at: now,
        source: rota::domain::contact::ContactSource::Scim,
        country_code: None,
    };
    diesel::insert_into(contact_methods::table)
        .values(&method)
        .execute(&mut conn)
        .unwrap();
    let old_team = |name: &str, at| Team {
        id: TeamId::generate(),
        name: name.into(),
        name_key: name.to_lowercase(),
        description: None,
        external_id: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    let masse = old_team("Masse", now);
    let masse_eszett = old_team("Maße", later);
    let oest = old_team("Försäljning ÖST", now);
    for t in [&masse, &masse_eszett, &oest] {
        diesel::insert_into(teams::table)
            .values(t)
            .execute(&mut conn)
            .unwrap();
    }

    let applied = store::migrate(&mut conn).unwrap();
    assert_eq!(applied.len(), 1, "{applied:?}");

    let key_of = |conn: &mut DbConnection, id: &rota::domain::ids::UserId| {
        users::table
            .find(id)
            .select((users::user_name_key, users::name_key, users::department_key))
            .first::<(String, String, Option<String>)>(conn)
            .unwrap()
    };
    assert_eq!(
        key_of(&mut conn, &asa.id),
        (
            "asa@contoso.se".to_string(),
            "åsa öberg".to_string(),
            Some("försäljning".to_string())
        )
    );
    assert_eq!(key_of(&mut conn, &gross.id).0, "gross@contoso.de");
    assert_eq!(
        key_of(&mut conn, &gross_eszett.id).0,
        "groß@contoso.de",
        "folds into another's user name: keeps its old key"
    );
    let team_key = |conn: &mut DbConnection, id: &TeamId| {
        teams::table
            .find(id)
            .select(teams::name_key)
            .first::<String>(conn)
            .unwrap()
    };
    assert_eq!(team_key(&mut conn, &oest.id), "försäljning öst");
    assert_eq!(team_key(&mut conn, &masse.id), "masse");
    assert_eq!(team_key(&mut conn, &masse_eszett.id), "maße");
    let contact: (String, String) = contact_methods::table
        .find(&method.id)
        .select((contact_methods::address_key, contact_methods::label_key))
        .first(&mut conn)
        .unwrap();
    assert_eq!(contact, ("åsa@exempel.se".into(), "hem".into()));

    // Filters find them by any case.
    let filter = rota::domain::scim_filter::parse_filter(
        "displayName eq \"ÅSA ÖBERG\" and emails.value eq \"åsa@EXEMPEL.se\"",
    )
    .unwrap();
    let (ids, total) = store::scim::search(
        &mut conn,
        store::scim::Resource::User,
        &store::scim::Query {
            filter: Some(&filter),
            sort_by: None,
            descending: false,
            offset: 0,
            count: 10,
        },
    )
    .unwrap();
    assert_eq!((ids, total), (vec![asa.id.as_str().to_string()], 1));

    // Done once: migrating again changes nothing.
    assert!(store::migrate(&mut conn).unwrap().is_empty());
    assert!(store::caseless::refold(&mut conn).unwrap().is_none());
}

#[test]
fn sqlite_keys_of_earlier_rows_are_computed_at_migration() {
    keys_of_earlier_rows_are_computed_at_migration(TestDatabase::sqlite());
}

#[test]
fn postgres_keys_of_earlier_rows_are_computed_at_migration() {
    keys_of_earlier_rows_are_computed_at_migration(TestDatabase::postgres());
}
