//! Storage: one diesel codebase over SQLite (the embedded default) and PostgreSQL (for several
//! instances). Holds the connection type, the pool, migrations, the write-transaction helper,
//! the single-server lock for SQLite files, and one module of queries per aggregate.

pub mod action_links;
pub mod analytics;
pub mod audit;
pub mod break_glass;
pub mod calendar;
pub mod caseless;
pub mod chat;
pub mod column;
pub mod contact_methods;
pub mod contact_tests;
pub mod emails;
pub mod escalation;
pub mod handoffs;
pub mod incidents;
pub mod notifications;
pub mod postmortems;
pub mod processing;
pub mod schedules;
pub mod schema;
pub mod scim;
pub mod scim_requests;
pub mod seats;
pub mod services;
pub mod sessions;
pub mod sign_in;
pub mod status_updates;
pub mod teams;
pub mod tokens;
pub mod users;

use crate::config::DatabaseUrl;
use crate::error::{AppError, AppResult, ResultExt};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::fs::File;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to whichever backend the configuration names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `$body` on the backend's own connection type, for statements diesel builds only per
/// backend (multi-row inserts, raw SQL with binds).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Sqlite($c) => $body,
            $crate::store::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Inserts a slice of rows into a table: in one statement on PostgreSQL (one round trip);
/// row by row on SQLite, whose statements cost no round trip (and for rows with optional
/// columns diesel would wrap a multi-row insert in a savepoint). In a function returning a
/// `Result` whose error takes a diesel error.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        if !$rows.is_empty() {
            match $conn {
                $crate::store::DbConnection::Postgres(c) => {
                    diesel::insert_into($table).values($rows).execute(c)?;
                }
                $crate::store::DbConnection::Sqlite(c) => {
                    for row in $rows {
                        diesel::insert_into($table).values(row).execute(c)?;
                    }
                }
            }
        }
    };
}
pub(crate) use insert_rows;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Ids bound in one statement at most when reading by a list of ids: each is a bound
/// parameter, and the backends cap how many one statement takes (SQLite's default 32,766,
/// PostgreSQL's 65,535), leaving room for the statement's other parameters.
pub const IDS_PER_STATEMENT: usize = 5_000;

/// Opens connections for the pool, setting SQLite's pragmas on each one. Once its pool is
/// closed (`Db::close`) it opens no more.
#[derive(Debug, Clone)]
pub struct Connector {
    url: DatabaseUrl,
    /// False once closed. Opening a connection holds the read side, so `Db::close` waits for
    /// the connections being opened on the pool's threads.
    open: Arc<RwLock<bool>>,
}

/// Opens a PostgreSQL connection. Every PostgreSQL connection in Rota (and its tests and
/// benches) is opened here, because libpq brings OpenSSL, and OpenSSL by default frees its
/// state in an `atexit` handler: a thread still closing a TLS connection to the database
/// while the process exits (a pool's connection, a server shutting down) then frees what
/// the handler already freed, and the process dies with a double free or a segfault after
/// its work is done. Initialising OpenSSL first with its no-`atexit` option (what
/// `openssl_sys::init` does) leaves the clean-up to the operating system.
pub fn establish_postgres(url: &str) -> Result<diesel::PgConnection, ConnectionError> {
    openssl_sys::init();
    diesel::PgConnection::establish(url)
}

impl Connector {
    pub fn new(url: DatabaseUrl) -> Self {
        Connector {
            url,
            open: Arc::new(RwLock::new(true)),
        }
    }

    pub fn connect(&self) -> Result<DbConnection, ConnectionError> {
        let open = self.open.read().unwrap_or_else(PoisonError::into_inner);
        if !*open {
            return Err(ConnectionError::BadConnection(
                "the database is being closed".into(),
            ));
        }
        match &self.url {
            DatabaseUrl::Sqlite { path } => {
                let path = path.to_str().ok_or_else(|| {
                    ConnectionError::BadConnection("the SQLite path is not UTF-8".into())
                })?;
                let mut conn = diesel::SqliteConnection::establish(path)?;
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA cache_size = -8000; PRAGMA mmap_size = 268435456; \
                     PRAGMA wal_autocheckpoint = 0;"
                ))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres { url } => {
                let mut conn = establish_postgres(url)?;
                // diesel prepares each statement once per connection, and after five runs
                // PostgreSQL may keep one generic plan for it for good, costed on the table
                // sizes of that moment. On a new database (Entra's first provisioning cycle)
                // that plan scans: every create read every `seats` and `users` row, at 20,000
                // users. A plan made for each run costs some planning and follows the tables
                // as they grow. (A pass over everyone, which runs each statement dozens of
                // times over chunks, goes back to generic plans: `seats` `apply_locked`.)
                conn.batch_execute("SET plan_cache_mode = force_custom_plan")
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

/// A connection in the pool, with what decides whether the pool tests it before handing it
/// out (see [`Db::connect`]). It dereferences to the connection.
pub struct Pooled {
    conn: DbConnection,
    /// When it was opened or last given back.
    returned_at: Instant,
    /// The last work on it failed: maybe because the server went away, so test it first.
    suspect: bool,
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// A connection given back less than this long ago, whose last work succeeded, is handed
/// out untested (see [`Db::connect`]). Under load a connection comes back within
/// milliseconds; a database server that ends its connections (a restart, a failover) takes
/// far longer than this to be back, so the test is kept for when it can find something.
pub const TRUSTED_FOR: Duration = Duration::from_millis(100);

impl ManageConnection for Connector {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        Ok(Pooled {
            conn: Connector::connect(self).map_err(r2d2::Error::ConnectionError)?,
            returned_at: Instant::now(),
            suspect: false,
        })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        if !conn.suspect && conn.returned_at.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        conn.conn.ping().map_err(r2d2::Error::QueryError)?;
        conn.suspect = false;
        Ok(())
    }

    /// Called as each connection is given back.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.returned_at = Instant::now();
        conn.conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Connector>;
/// A connection checked out of the pool, given back when dropped. It dereferences to the
/// connection itself.
pub struct PooledConnection(r2d2::PooledConnection<Connector>);

impl std::ops::Deref for PooledConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.0.conn
    }
}

impl PooledConnection {
    /// Work on it failed: test it before its next use (`Connector::is_valid`).
    pub fn failed(&mut self) {
        self.0.suspect = true;
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0.conn
    }
}

/// The database: a pool of connections and which backend they speak to.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: DatabaseUrl,
    /// The connector's gate (see `close`).
    open: Arc<RwLock<bool>>,
    /// Keeps the SQLite checkpointer alive; it stops when the last clone is dropped.
    _checkpointer: Option<Arc<()>>,
}

/// How often the SQLite WAL is copied back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Checkpoints the SQLite WAL on its own thread and connection, so the fsync a checkpoint
/// costs (about 18 ms here) is never paid by a request: with SQLite's automatic checkpoints
/// (off on our connections) every hundredth sign-in waited for one.
fn start_checkpointer(connector: Connector) -> Arc<()> {
    let alive = Arc::new(());
    let watch = Arc::downgrade(&alive);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(mut conn) = connector.connect() else {
                return;
            };
            while watch.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_INTERVAL);
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        })
        .ok();
    alive
}

impl Db {
    /// Connects once up front (so a wrong URL or a server that is down is reported at once,
    /// with its cause) and then builds the pool.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Db, String> {
        let connector = Connector::new(url.clone());
        connector
            .connect()
            .map_err(|e| format!("cannot connect to {url}: {}", e.to_string().trim()))?;
        let connector_for_checkpoints = connector.clone();
        let open = connector.open.clone();
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // A pooled PostgreSQL connection can be dead while it sits idle: the server was
            // restarted, failed over, or ended the backend (pg_terminate_backend). Without a
            // test, the next pool-size requests are each handed a dead connection and fail.
            // So a check-out runs `SELECT 1` first, and a dead connection is replaced, when
            // the connection sat idle for `TRUSTED_FOR` or more, or its last work failed (a dead
            // connection fails what runs on it, and diesel does not mark it broken outside a
            // transaction). A connection busy a moment ago is handed out untested: under
            // load the test was one round trip in every 15 of a SCIM provisioning request
            // pair. Retrying failed work on a fresh connection instead would not be safe: the
            // work is an `FnOnce` that may have moved its inputs, and a connection that breaks
            // during COMMIT leaves the outcome unknown (the commit may have landed with its
            // acknowledgement lost), so running a non-idempotent write again (a token, an
            // audit row, a SCIM create) could apply it twice. A SQLite file cannot go stale,
            // so SQLite connections are not tested.
            .test_on_check_out(!url.is_sqlite())
            .build(connector)
            .map_err(|e| format!("cannot open a connection pool to {url}: {e}"))?;
        Ok(Db {
            pool,
            url: url.clone(),
            open,
            _checkpointer: url
                .is_sqlite()
                .then(|| start_checkpointer(connector_for_checkpoints)),
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections, self.pool.max_size())
    }

    pub fn get(&self) -> AppResult<PooledConnection> {
        Ok(PooledConnection(self.pool.get()?))
    }

    /// Stops the pool from opening connections, waiting for those being opened on its
    /// threads. Call it before the process exits: r2d2 opens connections on threads it never
    /// joins, and a libpq connection being opened while `exit` runs OpenSSL's clean-up
    /// handler (`OPENSSL_cleanup`, which frees OpenSSL's global locks) crashes the process
    /// with SIGSEGV. One-shot commands should not use a pool at all (`Connector::connect`).
    pub fn close(&self) {
        *self.open.write().unwrap_or_else(PoisonError::into_inner) = false;
    }

    /// Runs blocking database work on actix's blocking thread pool, inside the caller's
    /// tracing span: a span is per thread, so without carrying it over, what the work logs
    /// (a slow query, a failed best-effort write) would lose the request id.
    pub async fn run<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> AppResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            let out = f(&mut conn.conn);
            // Test it before its next use (`Connector::is_valid`).
            conn.suspect |= out.is_err();
            out
        })
        .await?
    }
}

/// Writers on SQLite queue here, in this process, before taking the database's write lock.
/// SQLite lets one writer in at a time anyway; without this queue the others poll in its busy
/// handler, which sleeps up to 100 ms between tries and makes the latency tail long.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs one autocommitted statement that writes (outside `write`): on SQLite it queues with
/// the other writers first, as `write` does, rather than polling in the busy handler while
/// a transaction (a lot of new incidents, say) holds the write lock.
pub fn write_alone<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    let _queued = matches!(conn, DbConnection::Sqlite(_))
        .then(|| SQLITE_WRITER.lock().unwrap_or_else(PoisonError::into_inner));
    f(conn)
}

/// Runs `f` in a transaction that writes. On SQLite it starts with `BEGIN IMMEDIATE`, taking
/// the write lock up front: a deferred transaction that reads first and writes later can fail
/// with SQLITE_BUSY when another writer got in between, which busy_timeout does not cure.
pub fn write<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    let _queued = match conn {
        DbConnection::Sqlite(c) => {
            let guard = SQLITE_WRITER
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Some(guard)
        }
        DbConnection::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            None
        }
    };
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Migrations not yet applied to this database.
pub fn pending_migrations(conn: &mut DbConnection) -> AppResult<usize> {
    let pending = match conn {
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|m| m.len()),
        DbConnection::Postgres(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|m| m.len()),
    };
    pending.internal("listing pending migrations")
}

/// Key of the PostgreSQL advisory lock that serialises migrations between instances.
const MIGRATION_LOCK_KEY: i64 = 0x0072_6f74_616d_6967; // "rotamig"

/// Applies pending migrations, then recomputes the stored caseless keys if their rules
/// changed (`caseless::refold`); returns the versions applied. On PostgreSQL an advisory lock
/// makes instances that start together take turns.
pub fn migrate(conn: &mut DbConnection) -> AppResult<Vec<String>> {
    let is_postgres = matches!(conn, DbConnection::Postgres(_));
    if is_postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    }
    let result = migrate_and_refold(conn);
    if is_postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
    }
    result
}

fn migrate_and_refold(conn: &mut DbConnection) -> AppResult<Vec<String>> {
    let applied: Vec<String> = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
        DbConnection::Postgres(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect()),
    }
    .internal("migration failed")?;
    if let Some(done) = caseless::refold(conn)? {
        tracing::info!(
            users = done.users,
            teams = done.teams,
            contact_methods = done.contact_methods,
            "recomputed the caseless keys of names"
        );
    }
    Ok(applied)
}

/// Held by `rota serve` on a SQLite file for its lifetime: a second server on the same file
/// would fight over the write lock and run every job twice. CLI commands do not take it.
///
/// It is an exclusive `flock` on the database file itself, so it belongs to the file, not to
/// the name it was reached by: a second server through a symlink or a hard link meets the
/// same lock. On Linux and macOS `flock` locks and the POSIX byte-range locks SQLite takes
/// (`fcntl`) are independent, so SQLite's own locking, in this process and in CLI commands
/// beside it, is unaffected. (On network file systems, where `flock` may be emulated with
/// `fcntl`, SQLite's WAL mode does not work anyway.)
pub struct ServeLock {
    /// Never closed before the process exits: closing any descriptor of the database file
    /// drops every POSIX lock this process holds on it, SQLite's included, and the checkpoint
    /// thread may still be using its connection while `serve` returns.
    _file: ManuallyDrop<File>,
}

impl ServeLock {
    pub fn acquire(db_path: &Path) -> Result<ServeLock, String> {
        let mut options = File::options();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644); // as SQLite creates it
        // An empty file is an empty SQLite database, so creating it here is harmless.
        let file = options
            .open(db_path)
            .map_err(|e| format!("cannot open the database file {}: {e}", db_path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(ServeLock {
                _file: ManuallyDrop::new(file),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!(
                "another `rota serve` is already running on {} (or on another name of the same file). Stop it first, or move to PostgreSQL (ROTA_DATABASE_URL=postgres://…) to run several instances",
                db_path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(format!("cannot lock {}: {e}", db_path.display()))
            }
        }
    }
}

/// Claims up to `limit` due rows of an outbox `table` (`emails`, `chat_posts`: each has
/// `next_attempt_at`, `claimed_until`, `sent_at`, `failed_at`) for `lease`: unsent, not given
/// up, due, not held by another job. Every row is claimed by one caller only, also with
/// several instances: on PostgreSQL rows another transaction is claiming are skipped
/// (`FOR UPDATE SKIP LOCKED`) and rows it has just claimed fail the re-checked condition; on
/// SQLite the statement runs under the single write lock. Run it in `store::write`.
pub(crate) fn claim_outbox<T>(
    conn: &mut DbConnection,
    table: &'static str,
    now: chrono::DateTime<chrono::Utc>,
    limit: i64,
    lease: chrono::Duration,
) -> AppResult<Vec<T>>
where
    T: diesel::QueryableByName<diesel::pg::Pg>
        + diesel::QueryableByName<diesel::sqlite::Sqlite>
        + 'static,
{
    use diesel::sql_types::{BigInt, Timestamp};
    let now_s = crate::clock::stored(now);
    let until = crate::clock::stored(now + lease);
    let due = "sent_at IS NULL AND failed_at IS NULL";
    Ok(match conn {
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "UPDATE {table} SET claimed_until = $1 WHERE id IN (\
                SELECT id FROM {table} \
                WHERE {due} AND next_attempt_at <= $2 \
                AND (claimed_until IS NULL OR claimed_until <= $2) \
                ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING *"
        ))
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now_s)
        .bind::<BigInt, _>(limit)
        .load(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE {table} SET claimed_until = ? WHERE id IN (\
                SELECT id FROM {table} \
                WHERE {due} AND next_attempt_at <= ? \
                AND (claimed_until IS NULL OR claimed_until <= ?) \
                ORDER BY next_attempt_at, id LIMIT ?) \
             RETURNING *"
        ))
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now_s)
        .bind::<Timestamp, _>(now_s)
        .bind::<BigInt, _>(limit)
        .load(c)?,
    })
}

/// One page of a listing: the rows, whether more follow, and the total when it was asked for.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub more: bool,
    pub total: Option<i64>,
}

/// The record was saved by another writer between our read and our write.
pub fn changed_meanwhile(resource: &'static str, id: &str) -> AppError {
    AppError::stale(format!(
        "of {resource} {id} was changed by another request meanwhile; read it again and retry"
    ))
}

/// Maps a unique-constraint violation to a conflict on `field`; other errors pass through.
pub fn unique_violation(
    field: &'static str,
    reason: String,
) -> impl FnOnce(diesel::result::Error) -> AppError {
    move |e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AppError::conflict(field, reason),
        other => AppError::from(other),
    }
}

diesel::define_sql_function! {
    /// SQL `lower()`: for ASCII text only (Entra's object ids). It folds only ASCII on SQLite
    /// and follows the database's locale on PostgreSQL; people's text is compared by its
    /// caseless keys (`domain::caseless`) instead.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A LIKE pattern matching caseless keys (`domain::caseless`) that contain `needle`'s key,
/// with LIKE's wildcards escaped (use `ESCAPE '\'`).
pub fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in crate::domain::caseless::key(needle).chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::Db;
    use crate::config::DatabaseUrl;
    use crate::logging::tests::Buffer;
    use tracing::Instrument;

    /// What database work logs on the blocking pool carries the request's span, and so its
    /// request id. (The subscriber is the process's global one: the blocking thread has no
    /// other. No other unit test installs one.)
    #[actix_web::test]
    async fn database_work_logs_inside_the_callers_span() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(
            &DatabaseUrl::Sqlite {
                path: dir.path().join("rota.db"),
            },
            1,
        )
        .unwrap();
        let span = tracing::info_span!("request", request_id = "req-4711");
        db.run(|_| {
            tracing::warn!("a warning from the database work");
            Ok(())
        })
        .instrument(span)
        .await
        .unwrap();
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line = out
            .lines()
            .find(|l| l.contains("a warning from the database work"))
            .unwrap_or_else(|| panic!("not logged: {out}"));
        assert!(
            line.contains("request_id=\"req-4711\"") || line.contains("request_id=req-4711"),
            "{line}"
        );
    }
}
