//! A test's own database: a temp SQLite file, or a fresh database on the PostgreSQL server of
//! TEST_DATABASE_URL. Dropping it removes the database.

use std::path::PathBuf;

pub enum Backend {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

impl Backend {
    pub fn sqlite() -> Self {
        let dir =
            std::env::temp_dir().join(format!("shipshape-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Backend::Sqlite { dir }
    }

    /// A fresh database on the server of TEST_DATABASE_URL. Without it the PostgreSQL half is
    /// skipped locally, but never in CI: there the missing variable fails the test.
    pub async fn postgres() -> Option<Self> {
        let admin_url = admin_url()?;
        let name = format!("shipshape_test_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
        Some(Backend::Postgres { admin_url, name })
    }

    pub fn database_url(&self) -> String {
        match self {
            Backend::Sqlite { dir } => format!("sqlite://{}/shipshape.db", dir.display()),
            Backend::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// TEST_DATABASE_URL; `None` (skip) outside CI when it is not set, a failure under CI=true.
pub fn admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DATABASE_URL must be set in CI (scripts/pg-start.sh)"
            );
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// Runs one statement on `url` with a connection of its own.
pub async fn admin_execute(url: &str, sql: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect TEST_DATABASE_URL");
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Backend::Postgres { admin_url, name } => {
                let (url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(async {
                            if let Ok(mut c) =
                                <sqlx::PgConnection as sqlx::Connection>::connect(&url).await
                            {
                                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                let _ =
                                    sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await;
                            }
                        })
                })
                .join();
            }
        }
    }
}
