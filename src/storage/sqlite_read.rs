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
    idle: Mutex<Vec<Connection>>,
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
    fn list_json(&self, limit: i64, offset: i64) -> Result<Bytes, DbError> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => self.open().map_err(unavailable)?,
        };
        let result = Self::query(&conn, limit, offset);
        // A connection that failed may be broken: it is not reused.
        if result.is_ok()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        Ok(conn)
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
