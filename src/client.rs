//! `shipshape healthcheck` and `shipshape smoke`: the binary probes itself, so images need no curl.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::configuration::{HealthcheckArgs, SmokeArgs};

fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("shipshape/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build HTTP client")
}

/// Exit code 0 when the URL answers 2xx, 1 otherwise (Docker HEALTHCHECK semantics).
pub async fn healthcheck(args: HealthcheckArgs) -> i32 {
    let url = args
        .url
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/healthz", args.port));
    let result = async {
        let res = client(Duration::from_secs(args.timeout_secs))?
            .get(&url)
            .send()
            .await?;
        ensure!(res.status().is_success(), "{url} answered {}", res.status());
        Ok(())
    }
    .await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("healthcheck failed: {e:#}");
            1
        }
    }
}

/// Post-deploy smoke test: every step prints one line; the first mismatch fails the run.
pub async fn smoke(args: SmokeArgs) -> anyhow::Result<()> {
    let base = args.base_url.trim_end_matches('/');
    let http = client(Duration::from_secs(args.timeout_secs))?;

    let res = http
        .get(format!("{base}/hello"))
        .send()
        .await
        .context("GET /hello")?;
    let status = res.status();
    let body = res.text().await?;
    ensure!(
        status == StatusCode::OK && body == args.greeting,
        "GET /hello: {status} {body:?}, expected 200 {:?}",
        args.greeting
    );
    println!("ok   GET /hello -> 200 {body:?}");

    // 13 characters, unique enough for concurrent runs: "smoke" + 8 random hex digits.
    let dni = format!("smoke{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let res = http
        .post(format!("{base}/api/users/"))
        .json(&json!({"dni": dni, "name": "Smoke Test"}))
        .send()
        .await
        .context("POST /api/users/")?;
    let status = res.status();
    let created: Value = res
        .json()
        .await
        .context("POST /api/users/: body is not JSON")?;
    ensure!(
        status == StatusCode::CREATED && created["dni"] == dni,
        "POST /api/users/: {status} {created}"
    );
    let id = created["id"]
        .as_i64()
        .context("POST /api/users/: no integer id")?;
    println!("ok   POST /api/users/ -> 201 id={id}");

    let got: Value = expect_json(
        &http,
        reqwest::Method::GET,
        &format!("{base}/api/users/{id}/"),
        StatusCode::OK,
    )
    .await?;
    ensure!(
        got == created,
        "GET /api/users/{id}/ returned {got}, expected {created}"
    );
    println!("ok   GET /api/users/{id}/ -> 200");

    let list: Value = expect_json(
        &http,
        reqwest::Method::GET,
        &format!("{base}/api/users/"),
        StatusCode::OK,
    )
    .await?;
    let found = list
        .as_array()
        .is_some_and(|users| users.iter().any(|u| u == &created));
    ensure!(found, "GET /api/users/ does not list user {id}");
    println!("ok   GET /api/users/ lists it");

    let res = http
        .delete(format!("{base}/api/users/{id}/"))
        .send()
        .await
        .context("DELETE")?;
    ensure!(
        res.status() == StatusCode::NO_CONTENT,
        "DELETE /api/users/{id}/: {}",
        res.status()
    );
    println!("ok   DELETE /api/users/{id}/ -> 204");

    let res = http
        .get(format!("{base}/api/users/{id}/"))
        .send()
        .await
        .context("GET after DELETE")?;
    if res.status() != StatusCode::NOT_FOUND {
        bail!(
            "GET /api/users/{id}/ after DELETE: {}, expected 404",
            res.status()
        );
    }
    println!("ok   GET /api/users/{id}/ -> 404 after delete");
    println!("smoke test passed against {base}");
    Ok(())
}

async fn expect_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    want: StatusCode,
) -> anyhow::Result<Value> {
    let res = http
        .request(method.clone(), url)
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = res.status();
    let body = res.text().await?;
    ensure!(
        status == want,
        "{method} {url}: {status} {body}, expected {want}"
    );
    serde_json::from_str(&body).with_context(|| format!("{method} {url}: body is not JSON: {body}"))
}
