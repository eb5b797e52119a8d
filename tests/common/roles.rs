//! A PostgreSQL database set up as docs/sql/ says: an owner role that migrates, an application
//! role with the least privileges. Names and passwords are random; dropping it removes all three.

use std::process::Command;

use super::backend::{admin_execute, admin_url};
use super::process::BIN;

const ROLES_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sql/roles.sql");
const GRANTS_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sql/grants.sql");

pub struct Roles {
    admin_url: String,
    pub database: String,
    pub owner: String,
    pub app: String,
    owner_password: String,
    pub app_password: String,
}

pub fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Roles {
    /// Runs docs/sql/roles.sql as the administrator of TEST_DATABASE_URL (`None`: no PostgreSQL).
    pub async fn create() -> Option<Self> {
        let admin_url = admin_url()?;
        let tag = &random_secret()[..10];
        let roles = Roles {
            admin_url,
            database: format!("ss_db_{tag}"),
            owner: format!("ss_owner_{tag}"),
            app: format!("ss_app_{tag}"),
            owner_password: random_secret(),
            app_password: random_secret(),
        };
        roles.psql(
            &roles.admin_url,
            ROLES_SQL,
            &[
                ("database", &roles.database),
                ("owner", &roles.owner),
                ("owner_password", &roles.owner_password),
                ("app", &roles.app),
                ("app_password", &roles.app_password),
            ],
        );
        Some(roles)
    }

    /// `create`, then `shipshape migrate` as the owner and docs/sql/grants.sql.
    pub async fn migrated() -> Option<Self> {
        let roles = Self::create().await?;
        roles
            .migrate_as(&roles.owner_url())
            .expect("migrate as the owner");
        roles.grant();
        Some(roles)
    }

    pub fn owner_url(&self) -> String {
        self.url(&self.owner, &self.owner_password)
    }

    pub fn app_url(&self, password: &str) -> String {
        self.url(&self.app, password)
    }

    /// The administrator's URL with another user and this database.
    fn url(&self, user: &str, password: &str) -> String {
        let (scheme, rest) = self.admin_url.split_once("://").unwrap();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let (authority, query) = rest
            .split_once('?')
            .map_or((rest, None), |(a, q)| (a, Some(q)));
        let host = authority.split('/').next().unwrap();
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        format!(
            "{scheme}://{user}:{password}@{host}/{}{query}",
            self.database
        )
    }

    /// `shipshape migrate` with this URL; the error output when it fails.
    pub fn migrate_as(&self, url: &str) -> Result<(), String> {
        let out = Command::new(BIN)
            .arg("migrate")
            .env_clear()
            .envs(std::env::var("LLVM_PROFILE_FILE").map(|v| ("LLVM_PROFILE_FILE", v)))
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// docs/sql/grants.sql, as the owner.
    pub fn grant(&self) {
        self.psql(&self.owner_url(), GRANTS_SQL, &[("app", &self.app)]);
    }

    /// As the administrator (in its own database: roles are cluster-wide).
    pub async fn admin(&self, sql: &str) {
        admin_execute(&self.admin_url, sql).await;
    }

    /// Ends every session of the application role, as a failover or a credential revocation
    /// would. Returns how many there were.
    pub async fn terminate_app_sessions(&self) -> i64 {
        // pg_terminate_backend needs the rights of the role whose sessions it ends.
        self.admin(&format!("GRANT \"{}\" TO CURRENT_USER", self.app))
            .await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin_url)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1",
        )
        .bind(&self.app)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }

    fn psql(&self, url: &str, file: &str, vars: &[(&str, &str)]) {
        let mut cmd = Command::new("psql");
        cmd.arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f", file]);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let out = cmd
            .output()
            .expect("psql (PostgreSQL's client, installed by scripts/pg-start.sh)");
        assert!(
            out.status.success(),
            "psql -f {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let (url, db, owner, app) = (
            self.admin_url.clone(),
            self.database.clone(),
            self.owner.clone(),
            self.app.clone(),
        );
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await
                    {
                        for sql in [
                            format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
                            format!("DROP ROLE IF EXISTS \"{app}\""),
                            format!("DROP ROLE IF EXISTS \"{owner}\""),
                        ] {
                            let _ = sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await;
                        }
                    }
                })
        })
        .join();
    }
}
