//! The SQLite users list: read connections of its own, each with its prepared statement cached,
//! on Tokio's blocking threads, the rows written straight into the response body.
//!
//! Through sqlx every row crosses from sqlx's SQLite worker thread to the request's task (a
//! channel send and a wake-up per row), then becomes a `UserRow`, a domain `User` and a
//! `UserJson` before serde_json writes it. The profile of `GET /api/users/` showed a third of the
//! server's samples in futex waits and wake-ups and a tenth in malloc/free. Here one request is
//! one hand-off to a blocking thread, which steps the statement and serialises each row from
//! SQLite's own buffers into the body (serde_json, so the escaping is the same). The query stays
//! on a blocking thread, not the async workers, because the list without `limit` is the whole
//! table.
//!
//! Each connection also keeps the last body it wrote, with SQLite's `PRAGMA data_version` at that
//! moment. The version changes when any other connection commits to the file (this process's
//! writer, another process, the sqlite3 shell), so while it has not changed the same query would
//! give the same rows, and the body is answered without running it. Reading the version first
//! and the rows after means a body is never older than its version.
//! (<https://www.sqlite.org/pragma.html#pragma_data_version>)
//!
//! A body that is still current is answered on the async worker: reading the version is a few
//! microseconds, against the hand-off to a blocking thread and back that made the list's p99. That
//! read never waits for a lock there (busy timeout 0); when SQLite would make it wait, the request
//! goes the blocking way, which may.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use bytes::{BufMut, Bytes, BytesMut};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use super::DbError;

const LIST: &str = "SELECT id, dni, name FROM users ORDER BY id LIMIT ?1 OFFSET ?2";

/// Bodies up to this size are kept (one per connection); a larger list is read each time, so a big
/// table costs no memory between requests.
const CACHED_BODY_MAX: usize = 256 * 1024;

/// Read-only connections to one database file, opened on demand; at most `max` queries at once
/// (so at most `max` connections and blocking threads), the others wait their turn.
#[derive(Clone, Debug)]
pub struct ReadPool {
    inner: Arc<Inner>,
    turns: Arc<Semaphore>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<ReadConn>>,
}

#[derive(Debug)]
struct ReadConn {
    conn: Connection,
    last: Option<Last>,
}

/// The last body a connection wrote, and what it answered.
#[derive(Debug)]
struct Last {
    data_version: i64,
    limit: i64,
    offset: i64,
    body: Bytes,
}

/// A user as the API writes it (the fields of `UserJson`, in its order), borrowed from the row.
#[derive(Serialize)]
struct UserRef<'a> {
    id: i64,
    dni: &'a str,
    name: &'a str,
}

impl ReadPool {
    pub fn new(path: PathBuf, busy_timeout: Duration, max: usize) -> Self {
        ReadPool {
            inner: Arc::new(Inner {
                path,
                busy_timeout,
                idle: Mutex::new(Vec::new()),
            }),
            turns: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// The JSON array of the users `ORDER BY id LIMIT limit OFFSET offset`.
    pub async fn list_json(&self, limit: i64, offset: i64) -> Result<Bytes, DbError> {
        let turn = self.turns.clone().acquire_owned().await;
        if let Some(body) = self.inner.kept(limit, offset) {
            return Ok(body);
        }
        let pool = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            pool.list_json(limit, offset)
        })
        .await
        .map_err(|e| DbError::Other(sqlx::Error::Io(std::io::Error::other(e))))?
    }
}

impl Inner {
    /// The kept body of an idle connection, when it is still current: answered on the async
    /// worker, without the hand-off to a blocking thread. Reading the version never waits here
    /// (busy timeout 0): a connection SQLite would make wait goes to `list_json`, which may wait.
    fn kept(&self, limit: i64, offset: i64) -> Option<Bytes> {
        let conn = self.idle.lock().ok()?.pop()?;
        let body = conn
            .conn
            .busy_timeout(Duration::ZERO)
            .ok()
            .and_then(|()| conn.kept(limit, offset).ok().flatten());
        self.put_back(conn);
        body
    }

    fn list_json(&self, limit: i64, offset: i64) -> Result<Bytes, DbError> {
        let mut conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => ReadConn {
                conn: self.open().map_err(unavailable)?,
                last: None,
            },
        };
        let result = conn
            .conn
            .busy_timeout(self.busy_timeout)
            .map_err(other)
            .and_then(|()| conn.list_json(limit, offset));
        // A connection that failed may be broken: it is not reused.
        if result.is_ok() {
            self.put_back(conn);
        }
        result
    }

    fn put_back(&self, conn: ReadConn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(conn)
    }
}

impl ReadConn {
    fn data_version(&self) -> Result<i64, DbError> {
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row((), |row| row.get(0)))
            .map_err(other)
    }

    /// The kept body, if it answered this page and nobody has committed since.
    fn kept(&self, limit: i64, offset: i64) -> Result<Option<Bytes>, DbError> {
        match &self.last {
            Some(last)
                if (last.limit, last.offset) == (limit, offset)
                    && self.data_version()? == last.data_version =>
            {
                Ok(Some(last.body.clone()))
            }
            _ => Ok(None),
        }
    }

    fn list_json(&mut self, limit: i64, offset: i64) -> Result<Bytes, DbError> {
        let data_version = self.data_version()?;
        if let Some(last) = &self.last
            && (last.data_version, last.limit, last.offset) == (data_version, limit, offset)
        {
            return Ok(last.body.clone());
        }
        let body = Self::query(&self.conn, limit, offset)?;
        self.last = (body.len() <= CACHED_BODY_MAX).then(|| Last {
            data_version,
            limit,
            offset,
            body: body.clone(),
        });
        Ok(body)
    }

    fn query(conn: &Connection, limit: i64, offset: i64) -> Result<Bytes, DbError> {
        let mut stmt = conn.prepare_cached(LIST).map_err(other)?;
        let mut rows = stmt.query((limit, offset)).map_err(other)?;
        let mut body = BytesMut::with_capacity(8 * 1024).writer();
        let mut json = serde_json::Serializer::new(&mut body);
        let mut seq = json.serialize_seq(None).map_err(json_error)?;
        while let Some(row) = rows.next().map_err(other)? {
            let user = UserRef {
                id: row
                    .get_ref(0)
                    .and_then(|v| Ok(v.as_i64()?))
                    .map_err(other)?,
                dni: row
                    .get_ref(1)
                    .and_then(|v| Ok(v.as_str()?))
                    .map_err(other)?,
                name: row
                    .get_ref(2)
                    .and_then(|v| Ok(v.as_str()?))
                    .map_err(other)?,
            };
            seq.serialize_element(&user).map_err(json_error)?;
        }
        seq.end().map_err(json_error)?;
        Ok(body.into_inner().freeze())
    }
}

/// BUSY (the busy timeout ran out) and a database that cannot be opened are "try again" (503),
/// as the same errors through sqlx are.
fn other(e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            unavailable(e)
        }
        _ => DbError::Other(sqlx::Error::Io(std::io::Error::other(e))),
    }
}

fn unavailable(e: rusqlite::Error) -> DbError {
    DbError::Unavailable(sqlx::Error::Io(std::io::Error::other(e)))
}

fn json_error(e: serde_json::Error) -> DbError {
    DbError::Other(sqlx::Error::Io(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A fresh database file in a directory of its own with one user, and the writer's connection
    /// (run `pragmas` first).
    fn users_file(name: &str, pragmas: &str) -> (PathBuf, PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("shipshape-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let _ = std::fs::remove_file(&path);
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!(
                "{pragmas}
                 CREATE TABLE users (id INTEGER PRIMARY KEY, dni TEXT UNIQUE, name TEXT);
                 INSERT INTO users (dni, name) VALUES ('1', 'Ada');"
            ))
            .unwrap();
        (dir, path, writer)
    }

    /// A second process's writes (here: a connection of its own, as the sqlite3 shell would make)
    /// show in the next list, although each read connection keeps its last body.
    #[tokio::test]
    async fn a_kept_body_is_answered_only_while_nobody_committed() {
        let (dir, path, writer) = users_file("read", "PRAGMA journal_mode = WAL;");
        // One connection, so every list below goes through the same kept body.
        let pool = ReadPool::new(path.clone(), Duration::from_secs(1), 1);
        let list = |limit, offset| {
            let pool = pool.clone();
            async move {
                String::from_utf8(pool.list_json(limit, offset).await.unwrap().to_vec()).unwrap()
            }
        };
        let one = r#"[{"id":1,"dni":"1","name":"Ada"}]"#;
        assert_eq!(list(i64::MAX, 0).await, one);
        assert_eq!(list(i64::MAX, 0).await, one);

        writer
            .execute("INSERT INTO users (dni, name) VALUES ('2', 'Grace')", ())
            .unwrap();
        let two = r#"[{"id":1,"dni":"1","name":"Ada"},{"id":2,"dni":"2","name":"Grace"}]"#;
        assert_eq!(list(i64::MAX, 0).await, two);
        // Another page is another query, not the kept body.
        assert_eq!(list(1, 0).await, one);
        assert_eq!(list(1, 1).await, r#"[{"id":2,"dni":"2","name":"Grace"}]"#);
        assert_eq!(list(i64::MAX, 0).await, two);

        writer
            .execute("UPDATE users SET name = 'Ada L.' WHERE id = 1", ())
            .unwrap();
        assert!(list(i64::MAX, 0).await.contains("Ada L."));
        writer.execute("DELETE FROM users", ()).unwrap();
        assert_eq!(list(i64::MAX, 0).await, "[]");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The check on the async worker gives up at once when another connection holds the file
    /// (SQLite would make it wait out the busy timeout, here a minute, with the worker blocked),
    /// and the blocking way still waits its busy timeout. The file is in rollback-journal mode,
    /// where a writer's exclusive transaction makes every reader wait; with WAL that is rarer
    /// (recovery, a checkpoint's restart), and the same code handles it.
    #[test]
    fn the_kept_body_is_never_waited_for_on_the_async_worker() {
        let (dir, path, writer) = users_file("busy", "");
        let pool = Arc::new(Inner {
            path: path.clone(),
            busy_timeout: Duration::from_secs(60),
            idle: Mutex::new(Vec::new()),
        });
        let one = r#"[{"id":1,"dni":"1","name":"Ada"}]"#;
        assert_eq!(&pool.list_json(i64::MAX, 0).unwrap()[..], one.as_bytes());
        assert_eq!(pool.kept(i64::MAX, 0).as_deref(), Some(one.as_bytes()));

        writer
            .execute_batch(
                "BEGIN EXCLUSIVE;
                 INSERT INTO users (dni, name) VALUES ('2', 'Grace');",
            )
            .unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let checker = pool.clone();
        std::thread::spawn(move || done.send(checker.kept(i64::MAX, 0)).unwrap());
        let kept = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the check on the async worker waited for the lock");
        assert_eq!(kept, None, "the check answered without reading the version");

        // The blocking way waits for the lock, and reads the new rows once it is free.
        let reader = pool.clone();
        let list = std::thread::spawn(move || reader.list_json(i64::MAX, 0));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !list.is_finished(),
            "the blocking way did not wait its busy timeout"
        );
        writer.execute_batch("COMMIT").unwrap();
        let two = r#"[{"id":1,"dni":"1","name":"Ada"},{"id":2,"dni":"2","name":"Grace"}]"#;
        assert_eq!(&list.join().unwrap().unwrap()[..], two.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
