//! The HTTP contract (docs/contract.md), in-process on SQLite and on PostgreSQL.

mod common;

use common::{Backend, TestApp};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

on_both_backends!(
    hello_and_root,
    create_get_list,
    list_bytes,
    create_validation_matrix,
    body_formats_and_media_types,
    body_size_limit,
    update_patch_delete,
    ids_never_reused,
    path_ids,
    methods_allow_and_headers,
    trailing_slash_optional,
    negotiation,
    options_metadata,
    concurrent_duplicate_creates,
    concurrent_distinct_creates,
    pagination,
    api_root,
);

const JSON: &str = "application/json";

fn detail(message: &str) -> Value {
    json!({ "detail": message })
}

async fn hello_and_root(b: Backend) {
    let s = TestApp::spawn(&b).await;
    for path in ["/hello", "/"] {
        let res = s.get(path).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(res.text, "Hello World from BenchSci!");
    }
    let head = s.call(Method::HEAD, "/hello").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), "26");
    assert_eq!(head.text, "");
    s.call(Method::POST, "/hello")
        .await
        .expect(405, detail("Method \"POST\" not allowed."));
    let options = s.call(Method::OPTIONS, "/hello").await;
    assert_eq!(options.status, 200);
    assert_eq!(options.header("allow"), "GET, HEAD, OPTIONS");
    assert_eq!(options.text, "");
    assert_eq!(s.get("/hello/").await.status, 404);

    let custom = TestApp::spawn_with(&b, &["--greeting", "Hi from a test"]).await;
    assert_eq!(custom.get("/hello").await.text, "Hi from a test");
}

async fn create_get_list(b: Backend) {
    let s = TestApp::spawn(&b).await;
    s.get("/api/users/").await.expect(200, json!([]));

    let res = s.post_user(r#"{"name":"Alice","dni":"11111111"}"#).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.header("location"), "");
    assert_eq!(res.header("content-type"), JSON);
    let alice = res.json();
    let id = alice["id"].as_i64().unwrap();
    // Key order is the model's field order.
    assert_eq!(
        res.text,
        format!(r#"{{"id":{id},"dni":"11111111","name":"Alice"}}"#)
    );

    let bob = s.create_user("22222222", "Bob").await;
    assert!(bob["id"].as_i64().unwrap() > id);
    s.get(&format!("/api/users/{id}/"))
        .await
        .expect(200, alice.clone());
    assert_eq!(
        s.get("/api/users/?page=2&ordering=-id&search=x")
            .await
            .json(),
        json!([alice, bob]),
        "ascending id, unknown query parameters ignored"
    );
}

/// The list's exact bytes, each user as `GET /api/users/{id}/` writes it, with text that must be
/// escaped (quotes, backslashes, control characters, non-ASCII), also under limit and offset.
async fn list_bytes(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let names = [
        "Plain",
        "Quote \" and \\ back",
        "Tab\tthen\u{1}ctl",
        "Zoë 日本 😀",
        "</script>",
    ];
    let mut singles = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = s.create_user(&format!("b{i}"), name).await["id"].clone();
        singles.push(s.get(&format!("/api/users/{id}/")).await.text);
    }
    for (query, range) in [("", 0..5), ("?limit=2&offset=1", 1..3), ("?offset=4", 4..5)] {
        let res = s.get(&format!("/api/users/{query}")).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), JSON);
        assert_eq!(
            res.text,
            format!("[{}]", singles[range].join(",")),
            "{query}"
        );
    }
    assert_eq!(s.get("/api/users/?offset=5").await.text, "[]");
}

async fn create_validation_matrix(b: Backend) {
    let s = TestApp::spawn(&b).await;
    s.create_user("11111111", "Alice").await;
    s.create_user("12345", "N").await;
    let required = || json!(["This field is required."]);
    let blank = || json!(["This field may not be blank."]);
    let cases: Vec<(String, Value)> = vec![
        (
            r#"{"name":"Other","dni":"11111111"}"#.into(),
            detail("User already exists"),
        ),
        (
            r#"{"name":"Other","dni":12345}"#.into(),
            detail("User already exists"),
        ),
        (
            r#"{"name":"Other","dni":" 11111111 "}"#.into(),
            json!({"dni": ["user with this dni already exists."]}),
        ),
        (r#"{"dni":"3"}"#.into(), json!({"name": required()})),
        (r#"{"name":"C"}"#.into(), json!({"dni": required()})),
        ("{}".into(), json!({"dni": required(), "name": required()})),
        (
            r#"{"name":"","dni":""}"#.into(),
            json!({"dni": blank(), "name": blank()}),
        ),
        (
            r#"{"name":" \t ","dni":"4"}"#.into(),
            json!({"name": blank()}),
        ),
        (
            format!(r#"{{"name":"N","dni":"{}"}}"#, "1".repeat(14)),
            json!({"dni": ["Ensure this field has no more than 13 characters."]}),
        ),
        (
            format!(r#"{{"name":"{}","dni":"5"}}"#, "n".repeat(31)),
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            format!(r#"{{"name":"{}","dni":"6"}}"#, "日".repeat(31)),
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            r#"{"name":true,"dni":"7"}"#.into(),
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":["a"],"dni":"7"}"#.into(),
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":{"a":1},"dni":"7"}"#.into(),
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":null,"dni":null}"#.into(),
            json!({"dni": ["This field may not be null."], "name": ["This field may not be null."]}),
        ),
        (
            r#"{"name":"a\u0000b","dni":"7"}"#.into(),
            json!({"name": ["Null characters are not allowed."]}),
        ),
        (
            r#"{"name":"a\ud800","dni":"7"}"#.into(),
            json!({"name": ["Surrogate characters are not allowed: U+D800."]}),
        ),
        (
            r#"{"name":"x","dni":"\udc00"}"#.into(),
            json!({"dni": ["Surrogate characters are not allowed: U+DC00."]}),
        ),
        (
            "[]".into(),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            r#"[{"name":"a","dni":"8"}]"#.into(),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            r#""str""#.into(),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
        (
            "123".into(),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
        ),
        (
            "true".into(),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got bool."]}),
        ),
        (
            "null".into(),
            json!({"non_field_errors": ["No data provided"]}),
        ),
    ];
    for (body, want) in cases {
        let res = s.post_user(&body).await;
        assert_eq!(res.pair(), (400, want), "body {body}");
    }
    // Malformed JSON: a 400 with a "JSON parse error" detail, never a 500.
    let deep = format!(r#"{{"name":{}"#, "[".repeat(60_000)); // deep, yet under the 64 KiB cap
    for body in [
        r#"{"name":"Bad", "dni":"#,
        "not json",
        r#"{"name":NaN,"dni":"9"}"#,
        deep.as_str(),
    ] {
        let (status, got) = s.post_user(body).await.pair();
        assert_eq!(status, 400, "{body:.40}");
        assert!(
            got["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - "),
            "{got}"
        );
    }
    let res = s
        .send(
            s.request(Method::POST, "/api/users/")
                .header(CONTENT_TYPE, JSON)
                .body(vec![0xff, 0xfe, 0x7b]),
        )
        .await;
    assert_eq!(res.status, 400);

    let accepted: Vec<(String, Value)> = vec![
        (
            r#"{"name":"  Spacey  ","dni":"  70000001  "}"#.into(),
            json!(["70000001", "Spacey"]),
        ),
        (
            r#"{"name":"Tab","dni":"\t93000009\n"}"#.into(),
            json!(["93000009", "Tab"]),
        ),
        (
            format!(
                r#"{{"name":"  {}  ","dni":"{}"}}"#,
                "n".repeat(30),
                "1".repeat(13)
            ),
            json!(["1".repeat(13), "n".repeat(30)]),
        ),
        (
            format!(r#"{{"name":"{}","dni":"ABCDEFGHñññññ"}}"#, "日".repeat(30)),
            json!(["ABCDEFGHñññññ", "日".repeat(30)]),
        ),
        (
            format!(r#"{{"name":"{}","dni":"emoji"}}"#, "😀".repeat(30)),
            json!(["emoji", "😀".repeat(30)]),
        ),
        (
            r#"{"name":"\u00e9\u65e5","dni":"esc"}"#.into(),
            json!(["esc", "é日"]),
        ),
        (r#"{"name":123,"dni":1.5}"#.into(), json!(["1.5", "123"])),
        (
            r#"{"name":12.5,"dni":99887766}"#.into(),
            json!(["99887766", "12.5"]),
        ),
        (
            r#"{"name":"Extra","dni":"x1","id":999,"foo":"bar","is_admin":true}"#.into(),
            json!(["x1", "Extra"]),
        ),
    ];
    for (body, want) in accepted {
        let (status, got) = s.post_user(&body).await.pair();
        assert_eq!(status, 201, "{body}: {got}");
        assert_eq!(json!([got["dni"], got["name"]]), want, "{body}");
    }
    assert_eq!(
        s.get("/api/users/999/").await.status,
        404,
        "a client-sent id is ignored"
    );
}

async fn body_formats_and_media_types(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let form = s
        .send(
            s.request(Method::POST, "/api/users/")
                .form(&[("name", "Form"), ("dni", "80000001")]),
        )
        .await;
    assert_eq!((form.status, &form.json()["name"]), (201, &json!("Form")));

    let part = reqwest::multipart::Form::new()
        .text("name", "Multi")
        .text("dni", "80000002");
    let multi = s
        .send(s.request(Method::POST, "/api/users/").multipart(part))
        .await;
    assert_eq!(
        (multi.status, &multi.json()["dni"]),
        (201, &json!("80000002"))
    );

    let res = s
        .send_body(
            Method::POST,
            "/api/users/",
            "application/json; charset=utf-8",
            r#"{"name":"Cs","dni":"80000003"}"#,
        )
        .await;
    assert_eq!(res.status, 201);

    for ct in ["text/plain", "application/xml", "application/vnd.api+json"] {
        s.send_body(Method::POST, "/api/users/", ct, "{}")
            .await
            .expect(
                415,
                detail(&format!("Unsupported media type \"{ct}\" in request.")),
            );
    }
    s.send(
        s.request(Method::POST, "/api/users/")
            .body(r#"{"name":"N","dni":"1"}"#),
    )
    .await
    .expect(415, detail("Unsupported media type \"\" in request."));

    for ct in [None, Some(JSON), Some("text/plain")] {
        let mut req = s.request(Method::POST, "/api/users/");
        if let Some(ct) = ct {
            req = req.header(CONTENT_TYPE, ct);
        }
        let res = s.send(req).await;
        assert_eq!(
            res.pair(),
            (
                400,
                json!({"dni": ["This field is required."], "name": ["This field is required."]})
            ),
            "empty body with {ct:?}"
        );
    }
    let res = s
        .send_body(Method::POST, "/api/users/", "multipart/form-data", "x")
        .await;
    assert_eq!(res.status, 400, "{res}");
}

async fn body_size_limit(b: Backend) {
    let s = TestApp::spawn_with(&b, &["--max-body-bytes", "4096"]).await;
    let big = format!(r#"{{"name":"Big","dni":"1","pad":"{}"}}"#, "x".repeat(5000));
    s.post_user(&big).await.expect(
        413,
        detail("Request body is larger than the limit of 4096 bytes."),
    );
    // Without Content-Length (chunked), the cap holds as well.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
        big.clone(),
    ))]);
    let res = s
        .send(
            s.request(Method::POST, "/api/users/")
                .header(CONTENT_TYPE, JSON)
                .body(reqwest::Body::wrap_stream(stream)),
        )
        .await;
    assert_eq!(res.status, 413);
    let fits = format!(
        r#"{{"name":"Fits","dni":"2","pad":"{}"}}"#,
        "x".repeat(3900)
    );
    assert_eq!(s.post_user(&fits).await.status, 201);
    // The default cap is 64 KiB.
    let d = TestApp::spawn(&b).await;
    let huge = format!(r#"{{"name":"{}","dni":"3"}}"#, "n".repeat(3 << 20));
    assert_eq!(d.post_user(&huge).await.status, 413);
}

async fn update_patch_delete(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let bob = s.create_user("22222222", "Bob").await;
    let carol = s.create_user("33333333", "Carol").await;
    let id = bob["id"].as_i64().unwrap();
    let path = format!("/api/users/{id}/");
    let taken = format!(
        r#"{{"name":"X","dni":"{}"}}"#,
        carol["dni"].as_str().unwrap()
    );
    let too_long = format!(r#"{{"name":"{}"}}"#, "n".repeat(31));
    let exists = || json!({"dni": ["user with this dni already exists."]});
    // Applied in order: each row sees the state the rows before it left.
    let cases: Vec<(Method, &str, &str, u16, Value)> = vec![
        (
            Method::PUT,
            r#"{"name":" Bob2 ","dni":"22222223","id":5}"#,
            JSON,
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob2"}),
        ),
        (
            Method::PUT,
            r#"{"name":"Bob3"}"#,
            JSON,
            400,
            json!({"dni": ["This field is required."]}),
        ),
        (
            Method::PUT,
            r#"{"name":"Bob3","dni":"22222223"}"#,
            JSON,
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob3"}),
        ),
        (
            Method::PATCH,
            r#"{"name":"Bob4"}"#,
            JSON,
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob4"}),
        ),
        (
            Method::PATCH,
            "name=Bob5",
            "application/x-www-form-urlencoded",
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob5"}),
        ),
        (Method::PATCH, &taken, JSON, 400, exists()),
        (Method::PUT, &taken, JSON, 400, exists()),
        (
            Method::PATCH,
            &too_long,
            JSON,
            400,
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            Method::PUT,
            "[]",
            JSON,
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            Method::PATCH,
            r#""x""#,
            JSON,
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
        (
            Method::PATCH,
            "null",
            JSON,
            400,
            json!({"non_field_errors": ["No data provided"]}),
        ),
        (
            Method::PUT,
            "{}",
            "text/plain",
            415,
            detail("Unsupported media type \"text/plain\" in request."),
        ),
    ];
    for (method, body, content_type, want_status, want) in cases {
        let res = s.send_body(method.clone(), &path, content_type, body).await;
        assert_eq!(res.pair(), (want_status, want), "{method} {body}");
    }
    for missing in ["/api/users/999999/", "/api/users/abc/"] {
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            s.send_body(m, missing, JSON, "{}")
                .await
                .expect(404, detail("Not found."));
        }
    }
    let res = s.call(Method::DELETE, &path).await;
    assert_eq!(res.status, 204);
    assert_eq!(res.header("content-type"), "");
    assert_eq!(res.text, "");
    assert_eq!(s.get(&path).await.status, 404);
    assert_eq!(s.call(Method::DELETE, &path).await.status, 404);
    assert_eq!(
        s.post_user(r#"{"name":"Again","dni":"22222223"}"#)
            .await
            .status,
        201,
        "a deleted user's dni is free again"
    );
}

async fn ids_never_reused(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let a = s.create_user("1", "A").await;
    let c = s.create_user("2", "C").await;
    s.call(Method::DELETE, &format!("/api/users/{}/", c["id"]))
        .await;
    let d = s.create_user("3", "D").await;
    assert!(d["id"].as_i64() > c["id"].as_i64(), "{a} {c} {d}");
}

async fn path_ids(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let user = s.create_user("1", "One").await;
    let id = user["id"].as_i64().unwrap();
    for path in [format!("/api/users/0{id}/"), format!("/api/users/+{id}/")] {
        s.get(&path).await.expect(200, user.clone());
    }
    for path in [
        "/api/users/abc/",
        "/api/users/0/",
        "/api/users/-1/",
        "/api/users/1e3/",
        "/api/users/1.5/",
        "/api/users/%20/",
        "/api/users/9223372036854775807/",
        "/api/users/9223372036854775808/",
        "/api/users/99999999999999999999999/",
        "/api/users.json",
        "/api/users/1.json",
        "/nope/",
        "/api/nope/",
        "/ht/foo/",
        "/admin/",
    ] {
        let res = s.get(path).await;
        assert_eq!(res.header("content-type"), JSON, "{path}");
        res.expect(404, detail("Not found."));
    }
}

async fn methods_allow_and_headers(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let user = s.create_user("1", "One").await;
    let detail_path = format!("/api/users/{}/", user["id"]);
    for m in ["PUT", "PATCH", "DELETE"] {
        let res = s.call(m.parse().unwrap(), "/api/users/").await;
        assert_eq!(res.header("allow"), "GET, POST, HEAD, OPTIONS");
        res.expect(405, detail(&format!("Method \"{m}\" not allowed.")));
    }
    let res = s.call(Method::POST, &detail_path).await;
    assert_eq!(
        res.header("allow"),
        "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
    );
    res.expect(405, detail("Method \"POST\" not allowed."));
    assert_eq!(s.call(Method::POST, "/api/").await.status, 405);

    for (path, allow) in [
        ("/api/users/", "GET, POST, HEAD, OPTIONS"),
        (
            detail_path.as_str(),
            "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
        ),
    ] {
        let res = s.get(path).await;
        assert_eq!(res.header("allow"), allow);
        assert_eq!(res.header("vary"), "Accept");
        assert_eq!(res.header("content-type"), JSON);
        let head = s.call(Method::HEAD, path).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), JSON);
        assert_eq!(head.text, "");
    }
    assert_eq!(s.call(Method::HEAD, "/api/users/424242/").await.status, 404);
    for path in ["/hello", "/api/users/", "/nope", "/healthz", "/metrics"] {
        let res = s.get(path).await;
        assert_eq!(res.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(res.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(res.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(
            res.header("cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
        assert_ne!(res.header("x-request-id"), "", "{path}");
    }
}

async fn trailing_slash_optional(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let res = s
        .send_json(
            Method::POST,
            "/api/users",
            &json!({"name": "NoSlash", "dni": "1"}),
        )
        .await;
    assert_eq!(
        res.status, 201,
        "POST without the slash is served, not redirected"
    );
    let user = res.json();
    s.get(&format!("/api/users/{}", user["id"]))
        .await
        .expect(200, user.clone());
    s.get("/api/users?format=json")
        .await
        .expect(200, json!([user]));
    let res = s
        .send_json(
            Method::PATCH,
            &format!("/api/users/{}", user["id"]),
            &json!({"name": "P"}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(s.get("/ht").await.status, 200);
}

async fn negotiation(b: Backend) {
    let s = TestApp::spawn(&b).await;
    assert_eq!(s.get("/api/users/?format=json").await.status, 200);
    s.get("/api/users/?format=xml")
        .await
        .expect(404, detail("Not found."));
    let accept = |value: &'static str| s.request(Method::GET, "/api/users/").header(ACCEPT, value);
    s.send(accept("application/xml"))
        .await
        .expect(406, detail("Could not satisfy the request Accept header."));
    for value in [
        "*/*",
        "application/json",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ] {
        assert_eq!(s.send(accept(value)).await.status, 200, "{value}");
    }
}

async fn options_metadata(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let (status, got) = s.call(Method::OPTIONS, "/api/users/").await.pair();
    assert_eq!(status, 200);
    assert_eq!(got["name"], "User List");
    assert_eq!(got["actions"]["POST"]["dni"]["max_length"], 13);
    assert_eq!(got["actions"]["POST"]["name"]["max_length"], 30);
    assert_eq!(got["actions"]["POST"]["id"]["read_only"], true);
    let user = s.create_user("1", "One").await;
    let (status, got) = s
        .call(Method::OPTIONS, &format!("/api/users/{}/", user["id"]))
        .await
        .pair();
    assert_eq!((status, &got["name"]), (200, &json!("User Instance")));
    assert!(got["actions"]["PUT"].is_object());
    let (status, got) = s.call(Method::OPTIONS, "/api/users/777777/").await.pair();
    assert_eq!(status, 200);
    assert!(got.get("actions").is_none());
}

const BURST: &[&str] = &["--db-acquire-timeout-secs", "30"];

/// The original leaked IntegrityError 500s here. The unique index decides: one 201, only 400s.
async fn concurrent_duplicate_creates(b: Backend) {
    // A burst opens the whole pool at once (TLS and SCRAM per connection on PostgreSQL): on a loaded
    // CI machine that can outlast the default 3 s acquire timeout. These tests are about the answers.
    let s = TestApp::spawn_with(&b, BURST).await;
    for round in 0..3 {
        let dni = format!("race{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (http, barrier) = ((*s).clone(), barrier.clone());
                let body = json!({"name": format!("R{i}"), "dni": dni});
                tokio::spawn(async move {
                    barrier.wait().await;
                    http.send_json(Method::POST, "/api/users/", &body)
                        .await
                        .pair()
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                201 => created += 1,
                400 => assert_eq!(body, detail("User already exists")),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(created, 1, "round {round}");
    }
    assert_eq!(s.users().await.as_array().unwrap().len(), 3);
}

async fn concurrent_distinct_creates(b: Backend) {
    // A burst opens the whole pool at once (TLS and SCRAM per connection on PostgreSQL): on a loaded
    // CI machine that can outlast the default 3 s acquire timeout. These tests are about the answers.
    let s = TestApp::spawn_with(&b, BURST).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let http = (*s).clone();
            tokio::spawn(async move {
                let body = json!({"name": "P", "dni": format!("p{i}")});
                http.send_json(Method::POST, "/api/users/", &body)
                    .await
                    .status
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(s.users().await.as_array().unwrap().len(), 60);
}

async fn pagination(b: Backend) {
    let s = TestApp::spawn(&b).await;
    for i in 0..5 {
        s.create_user(&i.to_string(), &format!("U{i}")).await;
    }
    let names = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.get("/api/users/?limit=2&offset=1").await.json()),
        ["U1", "U2"]
    );
    assert_eq!(
        names(s.get("/api/users/?offset=3").await.json()),
        ["U3", "U4"]
    );
    for q in ["limit=0", "limit=1001", "limit=abc", "offset=-1"] {
        let (status, got) = s.get(&format!("/api/users/?{q}")).await.pair();
        assert_eq!(status, 400, "{q}: {got}");
        assert!(
            got.as_object()
                .unwrap()
                .keys()
                .all(|k| k == "limit" || k == "offset"),
            "{got}"
        );
    }
}

async fn api_root(b: Backend) {
    let s = TestApp::spawn(&b).await;
    s.get("/api/").await.expect(
        200,
        json!({"users": format!("http://{}/api/users/", s.addr)}),
    );
}
