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
