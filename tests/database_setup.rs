//! deploy/eks/database-setup.sql (the EKS platform's database setup Job) and the migrations Job's grants
//! (deploy/helm/shipshape/templates/migrate-job.yaml), run for real against the local PostgreSQL of
//! TEST_DATABASE_URL (scripts/pg-start.sh), the way the Jobs run them: psql as an RDS-like master (a
//! CREATEROLE + CREATEDB login that is not a superuser), `shipshape migrate` as the owner login, the
//! rotation function's own statements for `<role>_clone`. Everything is made for this test with random
//! names (a database and four roles) and dropped afterwards; shared roles and databases are not touched.
//!
//! Creating the master needs a superuser: the cluster's `postgres` account through `runuser` (the test
//! jobs run as root, as scripts/pg-start.sh does). Elsewhere the test is skipped, never in CI.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_shipshape");
const SETUP_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/eks/database-setup.sql");
const MIGRATE_JOB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/helm/shipshape/templates/migrate-job.yaml"
);

struct Cluster {
    host: String,
    port: String,
    suffix: String,
}

impl Cluster {
    fn name(&self, what: &str) -> String {
        format!("setup_{what}_{}", self.suffix)
    }

    fn url(&self, user: &str, password: &str, extra: &str) -> String {
        format!(
            "postgres://{user}:{password}@{}:{}/{}?sslmode=require{extra}",
            self.host,
            self.port,
            self.name("db")
        )
    }
}

fn superuser(sql: &str) -> Output {
    Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("run runuser")
}

/// psql with the SQL on its standard input, as the Jobs run it (psql variables are interpolated there,
/// never in `-c` commands).
fn psql(url: &str, vars: &[(&str, &str)], sql: &str) -> Output {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url]);
    for (k, v) in vars {
        cmd.arg("-v").arg(format!("{k}={v}"));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run psql");
    child
        .stdin
        .take()
        .expect("psql stdin")
        .write_all(sql.as_bytes())
        .expect("write SQL to psql");
    child.wait_with_output().expect("wait for psql")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn denied(out: Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && (err.contains("permission denied") || err.contains("must be owner")),
        "{what} must be refused for lack of privilege, got: {}{err}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The setup Job's command: psql as the master with the script's variables.
fn run_setup(c: &Cluster, master_pw: &str, app_pw: &str, owner_pw: &str) -> Output {
    let db = c.name("db");
    let (app, owner) = (c.name("app"), c.name("owner"));
    Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            &c.url(&c.name("master"), master_pw, ""),
        ])
        .args([
            "-v",
            &format!("dbname={db}"),
            "-v",
            &format!("app_role={app}"),
            "-v",
            &format!("owner_role={owner}"),
        ])
        .args([
            "-v",
            &format!("app_password={app_pw}"),
            "-v",
            &format!("owner_password={owner_pw}"),
        ])
        .args(["-f", SETUP_SQL])
        .output()
        .expect("run psql -f database-setup.sql")
}

/// The migrations Job's grant step, exactly as the chart writes it (its here-document).
fn migrate_job_grants() -> String {
    let text = std::fs::read_to_string(MIGRATE_JOB).expect("read migrate-job.yaml");
    let start = text.find("<<'SQL'\n").expect("the grant here-document") + "<<'SQL'\n".len();
    let end = start
        + text[start..]
            .find("\n              SQL\n")
            .expect("end of the here-document");
    text[start..end]
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

fn migrate(url: &str) -> Output {
    Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env_remove("DATABASE_URL_FILE")
        .env("LOG_FORMAT", "json")
        .output()
        .expect("run shipshape migrate")
}

struct Cleanup<'a>(&'a Cluster);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let c = self.0;
        let _ = superuser(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            c.name("db")
        ));
        for r in ["app_clone", "owner_clone", "app", "owner", "master"] {
            let name = if let Some(base) = r.strip_suffix("_clone") {
                format!("{}_clone", c.name(base))
            } else {
                c.name(r)
            };
            let _ = superuser(&format!("DROP ROLE IF EXISTS {name}"));
        }
    }
}

#[test]
fn database_setup_gives_each_login_exactly_its_rights() {
    let Ok(test_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL must be set in CI (scripts/pg-start.sh)"
        );
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    if !superuser("SELECT 1").status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the database setup test needs the cluster's postgres account (root)"
        );
        eprintln!("skipped: no superuser access through runuser -u postgres");
        return;
    }
    let hostport = test_url
        .split('@')
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("host:port in TEST_DATABASE_URL");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let c = Cluster {
        host: host.to_string(),
        port: port.to_string(),
        // Random enough for names no other test uses at the same time: this process, this instant.
        suffix: format!(
            "{}_{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ),
    };
    let _cleanup = Cleanup(&c);
    let (master_pw, app_pw, owner_pw) = ("master-pw-1", "app-pw-1", "owner-pw-1"); // pragma: allowlist secret
    let (db, app, owner) = (c.name("db"), c.name("app"), c.name("owner"));

    // The RDS master: may create roles and databases, is no superuser; it owns the application database.
    ok(
        superuser(&format!(
            "CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD '{master_pw}'",
            c.name("master")
        )),
        "create the master",
    );
    ok(
        superuser(&format!("CREATE DATABASE {db} OWNER {}", c.name("master"))),
        "create the database",
    );

    // 1. The setup Job, twice: the second run converges to the same state.
    ok(
        run_setup(&c, master_pw, app_pw, owner_pw),
        "database-setup.sql",
    );
    ok(
        run_setup(&c, master_pw, app_pw, owner_pw),
        "database-setup.sql, second run",
    );

    // 2. The migrations Job: `shipshape migrate` as the owner, then its grant step.
    let owner_url = c.url(&owner, owner_pw, "");
    ok(migrate(&owner_url), "shipshape migrate as the owner login");
    ok(
        psql(&owner_url, &[("grant_to", &app)], &migrate_job_grants()),
        "the migrations Job's grants",
    );
    let owners = ok(
        psql(
            &owner_url,
            &[],
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'",
        ),
        "table owners",
    );
    assert_eq!(
        owners.trim(),
        owner,
        "every table must belong to the owner login"
    );

    // 3. The app login: DML on users, nothing else.
    let app_url = c.url(&app, app_pw, "");
    let check_app = |url: &str, who: &str| {
        ok(
            psql(
                url,
                &[],
                "INSERT INTO users (dni, name) VALUES ('99999999', 'setup test')",
            ),
            &format!("{who}: INSERT users"),
        );
        ok(
            psql(
                url,
                &[],
                "UPDATE users SET name = 'setup test 2' WHERE dni = '99999999'",
            ),
            &format!("{who}: UPDATE users"),
        );
        ok(
            psql(url, &[], "SELECT count(*) FROM users"),
            &format!("{who}: SELECT users"),
        );
        ok(
            psql(url, &[], "DELETE FROM users WHERE dni = '99999999'"),
            &format!("{who}: DELETE users"),
        );
        ok(
            psql(url, &[], "SELECT count(*) FROM _sqlx_migrations"),
            &format!("{who}: SELECT _sqlx_migrations"),
        );
        denied(
            psql(url, &[], "CREATE TABLE setup_probe (x int)"),
            &format!("{who}: CREATE TABLE"),
        );
        denied(
            psql(url, &[], "ALTER TABLE users ADD COLUMN probe int"),
            &format!("{who}: ALTER TABLE users"),
        );
        denied(
            psql(url, &[], "DROP TABLE users"),
            &format!("{who}: DROP TABLE users"),
        );
        denied(
            psql(url, &[], "TRUNCATE users"),
            &format!("{who}: TRUNCATE users"),
        );
        denied(
            psql(url, &[], "DELETE FROM _sqlx_migrations"),
            &format!("{who}: DELETE _sqlx_migrations"),
        );
        denied(
            psql(
                url,
                &[],
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999999, 'x', true, '\\x00', 0)",
            ),
            &format!("{who}: INSERT _sqlx_migrations"),
        );
        denied(
            psql(url, &[], "UPDATE _sqlx_migrations SET description = 'x'"),
            &format!("{who}: UPDATE _sqlx_migrations"),
        );
        denied(
            psql(url, &[], "CREATE SCHEMA probe"),
            &format!("{who}: CREATE SCHEMA"),
        );
    };
    check_app(&app_url, "app");

    // 4. Rotation (alternating users): AWS's function creates <role>_clone with exactly these statements
    //    (SecretsManagerRDSPostgreSQLRotationMultiUser, set_secret). The clone has the role's rights.
    let master_url = c.url(&c.name("master"), master_pw, "");
    for base in [&app, &owner] {
        ok(
            psql(
                &master_url,
                &[],
                &format!(
                    "CREATE ROLE {base}_clone WITH LOGIN PASSWORD 'clone-pw-1'; GRANT {base} TO {base}_clone"
                ),
            ),
            "the rotation function's clone",
        );
    }
    check_app(
        &c.url(&format!("{app}_clone"), "clone-pw-1", ""),
        "app_clone",
    );
    // The owner's clone migrates as the owner (the migrations URL sets the role), so objects stay the owner's.
    let clone_url = c.url(
        &format!("{owner}_clone"),
        "clone-pw-1",
        &format!("&options=-c%20role%3D{owner}"),
    );
    ok(
        migrate(&clone_url),
        "shipshape migrate as the owner's rotation clone",
    );
    ok(
        psql(&clone_url, &[], "CREATE TABLE setup_probe (x int)"),
        "DDL as the owner's clone",
    );
    let probe_owner = ok(
        psql(
            &owner_url,
            &[],
            "SELECT tableowner FROM pg_tables WHERE tablename = 'setup_probe'",
        ),
        "probe owner",
    );
    assert_eq!(
        probe_owner.trim(),
        owner,
        "a table made by the owner's clone must belong to the owner"
    );

    // 5. A re-run after rotations never resets a password (the rotation function owns them now) and keeps
    //    the grants: the app still logs in with its own password, not with the one the Job was given.
    ok(
        run_setup(&c, master_pw, "app-pw-other", "owner-pw-other"),
        "database-setup.sql after rotations",
    );
    check_app(&app_url, "app after a re-run");
    assert!(
        !psql(&c.url(&app, "app-pw-other", ""), &[], "SELECT 1")
            .status
            .success(),
        "the setup Job reset a password"
    );
}
