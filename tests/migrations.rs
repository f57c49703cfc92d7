//! Migrations on both backends: every `down.sql` exactly reverts its `up.sql`, and the
//! migrated schema matches `schema.rs` (every model reads from a fresh database).

mod support;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use rota::store::{self, DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use support::TestDatabase;

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Text)]
    line: String,
}

/// A textual description of everything the migrations create.
fn schema_of(conn: &mut DbConnection) -> Vec<String> {
    let rows: Vec<Row> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS line FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY type, name",
        )
        .load(c),
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%' \
             UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE '__diesel%' \
             UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
             ORDER BY line",
        )
        .load(c),
    }
    .expect("read schema");
    rows.into_iter().map(|r| r.line).collect()
}

fn down_reverts_up(database: TestDatabase) {
    let db = store::Db::connect(database.url(), 1).expect("connect");
    let mut conn = db.get().unwrap();
    let total = store::pending_migrations(&mut conn).unwrap();
    assert!(total > 0);
    for step in 0..total {
        let before = schema_of(&mut conn);
        match &mut *conn {
            DbConnection::Sqlite(c) => {
                c.run_next_migration(SQLITE_MIGRATIONS).unwrap();
                c.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
            }
            DbConnection::Postgres(c) => {
                c.run_next_migration(POSTGRES_MIGRATIONS).unwrap();
                c.revert_last_migration(POSTGRES_MIGRATIONS).unwrap();
            }
        }
        assert_eq!(
            schema_of(&mut conn),
            before,
            "migration {step}: down.sql does not revert up.sql"
        );
        match &mut *conn {
            DbConnection::Sqlite(c) => drop(c.run_next_migration(SQLITE_MIGRATIONS).unwrap()),
            DbConnection::Postgres(c) => drop(c.run_next_migration(POSTGRES_MIGRATIONS).unwrap()),
        }
    }
    assert_eq!(store::pending_migrations(&mut conn).unwrap(), 0);
}

fn migrations_match_schema(database: TestDatabase) {
    use rota::store::schema::*;
    let db = store::Db::connect(database.url(), 1).expect("connect");
    let mut conn = db.get().unwrap();
    store::migrate(&mut conn).unwrap();
    users::table
        .select(rota::store::users::User::as_select())
        .load(&mut *conn)
        .unwrap();
    contact_methods::table
        .select(rota::store::users::ContactMethod::as_select())
        .load(&mut *conn)
        .unwrap();
    teams::table
        .select(rota::store::teams::Team::as_select())
        .load(&mut *conn)
        .unwrap();
    team_members::table
        .select(rota::store::teams::TeamMember::as_select())
        .load(&mut *conn)
        .unwrap();
    tokens::table
        .select(rota::store::tokens::Token::as_select())
        .load(&mut *conn)
        .unwrap();
    audit_events::table
        .select(rota::store::audit::AuditEvent::as_select())
        .load(&mut *conn)
        .unwrap();
    emails::table
        .select(rota::store::emails::Email::as_select())
        .load(&mut *conn)
        .unwrap();
    calendar_feeds::table
        .select(rota::store::calendar::CalendarFeed::as_select())
        .load(&mut *conn)
        .unwrap();
    contact_tests::table
        .select(rota::store::contact_tests::ContactTest::as_select())
        .load(&mut *conn)
        .unwrap();
}

/// Runs migrations up to (not including) the one whose name contains `name`.
fn migrate_up_to(conn: &mut DbConnection, name: &str) {
    loop {
        let next = match &mut *conn {
            DbConnection::Sqlite(c) => c
                .pending_migrations(SQLITE_MIGRATIONS)
                .unwrap()
                .first()
                .map(|m| m.name().to_string()),
            DbConnection::Postgres(c) => c
                .pending_migrations(POSTGRES_MIGRATIONS)
                .unwrap()
                .first()
                .map(|m| m.name().to_string()),
        }
        .unwrap_or_else(|| panic!("no pending migration named {name}"));
        if next.contains(name) {
            return;
        }
        run_next(conn);
    }
}

fn run_next(conn: &mut DbConnection) {
    match conn {
        DbConnection::Sqlite(c) => drop(c.run_next_migration(SQLITE_MIGRATIONS).unwrap()),
        DbConnection::Postgres(c) => drop(c.run_next_migration(POSTGRES_MIGRATIONS).unwrap()),
    }
}

/// A database from before externalIds were unique may hold duplicates: the migration that
/// makes them unique still runs (a plain unique index would fail to build), the oldest live
/// holder keeps the externalId under the index and the others are marked shared; a new
/// duplicate is refused. Names of accounts made through the REST API become unverified
/// (their holders could move them), those from SCIM and sign-in are Entra's.
fn the_sign_in_key_migration_takes_databases_with_duplicate_external_ids(database: TestDatabase) {
    use rota::domain::user::UserNameSource;
    use rota::store::users::{self, User};
    let db = store::Db::connect(database.url(), 1).expect("connect");
    let mut conn = db.get().unwrap();
    migrate_up_to(&mut conn, "sign_in_key");
    let insert = |id: &str, external_id: &str, provisioned_by: &str, minute: u32, deleted: bool| {
        format!(
            "INSERT INTO users (id, user_name, user_name_key, external_id, name, time_zone, role, provisioned_by, created_at, updated_at, deleted_at) \
             VALUES ('{id}', '{id}@contoso.example', '{id}@contoso.example', '{external_id}', '{id}', 'Etc/UTC', 'user', '{provisioned_by}', \
             '2026-01-01 09:{minute:02}:00', '2026-01-01 09:{minute:02}:00', {})",
            if deleted {
                "'2026-01-02 00:00:00'"
            } else {
                "NULL"
            }
        )
    };
    for sql in [
        insert("gone", "x-1", "scim", 0, true),
        insert("first", "x-1", "scim", 1, false),
        insert("second", "x-1", "sign_in", 2, false),
        insert("third", "x-1", "api", 3, false),
        insert("alone", "x-2", "api", 4, false),
    ] {
        diesel::sql_query(sql).execute(&mut *conn).unwrap();
    }
    run_next(&mut conn);
    let rows: Vec<User> = rota::store::schema::users::table
        .select(User::as_select())
        .load(&mut *conn)
        .unwrap();
    let row = |id: &str| rows.iter().find(|u| u.id.as_str() == id).unwrap().clone();
    let shared: Vec<bool> = ["gone", "first", "second", "third", "alone"]
        .iter()
        .map(|id| row(id).external_id_shared)
        .collect();
    assert_eq!(shared, [false, false, true, true, false]);
    assert_eq!(row("first").user_name_source, UserNameSource::EntraScim);
    assert_eq!(row("second").user_name_source, UserNameSource::EntraSignIn);
    assert_eq!(row("third").user_name_source, UserNameSource::Unverified);
    // From now on the externalId is unique among live users (with every later migration, as
    // the store writes them).
    rota::store::migrate(&mut conn).unwrap();
    let now = row("first").created_at;
    let newcomer = User {
        external_id: Some("x-1".into()),
        ..User::new(
            "fourth@contoso.example",
            "Fourth".into(),
            rota::domain::user::ProvisionedBy::Scim,
            now,
        )
    };
    let err = users::insert(&mut conn, &newcomer).unwrap_err();
    assert!(err.message().contains("externalId"), "{err}");
    // When the holder goes, the next duplicate holds the externalId under the index.
    users::delete(&mut conn, &row("first"), now).unwrap();
    let err = users::insert(&mut conn, &newcomer).unwrap_err();
    assert!(err.message().contains("externalId"), "{err}");
    let elsewhere = User {
        external_id: Some("x-3".into()),
        ..newcomer
    };
    users::insert(&mut conn, &elsewhere).unwrap();
}

#[test]
fn sqlite_the_sign_in_key_migration_takes_databases_with_duplicate_external_ids() {
    the_sign_in_key_migration_takes_databases_with_duplicate_external_ids(TestDatabase::sqlite());
}

#[test]
fn postgres_the_sign_in_key_migration_takes_databases_with_duplicate_external_ids() {
    the_sign_in_key_migration_takes_databases_with_duplicate_external_ids(TestDatabase::postgres());
}

#[test]
fn sqlite_down_reverts_up() {
    down_reverts_up(TestDatabase::sqlite());
}

#[test]
fn postgres_down_reverts_up() {
    down_reverts_up(TestDatabase::postgres());
}

#[test]
fn sqlite_migrations_match_schema() {
    migrations_match_schema(TestDatabase::sqlite());
}

#[test]
fn postgres_migrations_match_schema() {
    migrations_match_schema(TestDatabase::postgres());
}
