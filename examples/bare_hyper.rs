//! The floor for `GET /hello`: hyper 1 over HTTP/1.1 with nothing else (no router, middleware,
//! logging, metrics or limits). `scripts/bench.sh` runs it beside shipshape so the benchmark shows
//! what the framework and its safety layers cost on top of the bare HTTP stack.
//!
//! `cargo run --release --example bare_hyper` — listens on BIND_ADDRESS:PORT (127.0.0.1:0, i.e. a
//! free port, by default) and prints `listening on ADDR` once it accepts connections.
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

// Same 26 bytes as shipshape and the Flask original.
const HELLO: &[u8] = b"Hello World from BenchSci!";

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::new()));
    if req.method() == Method::GET && req.uri().path() == "/hello" {
        *res.body_mut() = Full::new(Bytes::from_static(HELLO));
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    } else {
        *res.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let ip: IpAddr = std::env::var("BIND_ADDRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
    println!("listening on {}", listener.local_addr()?);

    loop {
        let (stream, _) = listener.accept().await?;
        // Socket options left as axum::serve leaves them (shipshape sets none), so only the
        // layers above hyper differ.
        tokio::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handle));
            // A client that resets mid-request is not the server's error; nothing to report.
            let _ = conn.await;
        });
    }
}
