//! Test harness. `TestApp` runs the application in-process on a random loopback port against a
//! fresh database (a temp SQLite file, or a new PostgreSQL database when TEST_DATABASE_URL is
//! set); `Server` spawns the real binary, for the tests of the process itself (signals, kill -9,
//! subcommands). Both are driven through `Http`: one client, request helpers, `Reply` checks.
#![allow(dead_code, unused_imports)] // each test file uses a different part of the harness

mod app;
mod backend;
mod otlp;
mod process;
mod roles;
mod secret;

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use app::{TestApp, capture_logs_and_traces, log_lines};
pub use backend::{Backend, admin_execute, with_database};
pub use otlp::{Collector, ExportedSpan};
pub use process::{BIN, SIGTERM, Server, assert_configuration_refused};
pub use roles::{Roles, random_secret};
pub use secret::SecretDir;

/// A client builder with the TLS provider installed (reqwest is built without a default one).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30))
}

/// A server under test: its base URL and the one client every request of the test goes through.
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: String) -> Self {
        Http {
            base,
            client: client_builder().build().unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port`, for raw TCP tests.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// A request to build on (headers, bodies) and pass to `send`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = req.build().unwrap();
        let what = format!("{} {}", req.method(), req.url().path());
        let res = self.client.execute(req).await.unwrap();
        Reply::read(what, res).await
    }

    pub async fn call(&self, method: Method, path: &str) -> Reply {
        self.send(self.request(method, path)).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path).await
    }

    /// A request with a raw body and a Content-Type.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Reply {
        self.send(
            self.request(method, path)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_owned()),
        )
        .await
    }

    /// A request with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.send(self.request(method, path).json(body)).await
    }

    /// POST /api/users/ with a raw JSON text.
    pub async fn post_user(&self, body: &str) -> Reply {
        self.send_body(Method::POST, "/api/users/", "application/json", body)
            .await
    }

    /// Creates a user and returns it (asserting 201).
    pub async fn create_user(&self, dni: &str, name: &str) -> Value {
        let reply = self
            .send_json(
                Method::POST,
                "/api/users/",
                &serde_json::json!({"dni": dni, "name": name}),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply}");
        reply.json()
    }

    /// GET /api/users/ (asserting 200).
    pub async fn users(&self) -> Value {
        let reply = self.get("/api/users/").await;
        assert_eq!(reply.status, 200, "{reply}");
        reply.json()
    }
}

/// A response read in full.
pub struct Reply {
    /// Method and path, for assertion messages.
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    async fn read(what: String, res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            what,
            status,
            headers,
            text,
        }
    }

    /// The body as JSON (Null when empty); panics on anything else.
    pub fn json(&self) -> Value {
        if self.text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {self}"))
    }

    /// Status and JSON body, to compare with an expected pair.
    pub fn pair(&self) -> (u16, Value) {
        (self.status, self.json())
    }

    /// Asserts the status and the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16, body: Value) {
        assert_eq!(self.pair(), (status, body), "{}", self.what);
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or("<binary>"))
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} {}", self.what, self.status, self.text)
    }
}

/// Starts a POST whose body is only half sent, so the request stays in flight.
pub async fn half_sent_post(s: &Http, body: &str) -> (TcpStream, String) {
    let addr = s.authority();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/users/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    (conn, rest.to_owned())
}

/// Reads a raw HTTP/1.1 response until its headers and announced body are in.
pub async fn read_response(conn: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), conn.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

/// Declares each listed async fn(Backend) as a test on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::sqlite()).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(b) = $crate::common::Backend::postgres().await { super::$name(b).await }
               } )*
        }
    };
}
