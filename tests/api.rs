//! The HTTP contract (shared/contract/peer-behaviour.md), on SQLite and on PostgreSQL.

mod common;

use common::{Backend, Server, http, json};
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

on_both_backends!(
    hello_and_root,
    create_get_list,
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

async fn post(s: &Server, body: &str) -> (u16, Value) {
    json(
        http()
            .post(s.url("/api/users/"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn hello_and_root(b: Backend) {
    let s = Server::start(&b).await;
    for path in ["/hello", "/"] {
        let res = http().get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(res.text().await.unwrap(), "Hello World from BenchSci!");
    }
    let head = http().head(s.url("/hello")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "26");
    assert_eq!(head.text().await.unwrap(), "");
    let (status, body) = json(http().post(s.url("/hello")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method \"POST\" not allowed."}))
    );

    let custom = Server::start_with(&b, &[("GREETING", "Hi from a test")]).await;
    assert_eq!(
        http()
            .get(custom.url("/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Hi from a test"
    );
}

async fn create_get_list(b: Backend) {
    let s = Server::start(&b).await;
    let (status, list) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!((status, list), (200, json!([])));

    let res = http()
        .post(s.url("/api/users/"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"name":"Alice","dni":"11111111"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("location").is_none());
    assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    let text = res.text().await.unwrap();
    let alice: Value = serde_json::from_str(&text).unwrap();
    let id = alice["id"].as_i64().unwrap();
    // Key order is the model's field order.
    assert_eq!(
        text,
        format!(r#"{{"id":{id},"dni":"11111111","name":"Alice"}}"#)
    );

    let (_, bob) = post(&s, r#"{"name":"Bob","dni":"22222222"}"#).await;
    assert!(bob["id"].as_i64().unwrap() > id);
    let (status, got) = json(
        http()
            .get(s.url(&format!("/api/users/{id}/")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &got), (200, &alice));
    let (_, list) = json(
        http()
            .get(s.url("/api/users/?page=2&ordering=-id&search=x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        list,
        json!([alice, bob]),
        "ascending id, unknown query parameters ignored"
    );
}

async fn create_validation_matrix(b: Backend) {
    let s = Server::start(&b).await;
    assert_eq!(
        post(&s, r#"{"name":"Alice","dni":"11111111"}"#).await.0,
        201
    );
    assert_eq!(post(&s, r#"{"name":"N","dni":"12345"}"#).await.0, 201);
    let required = || json!(["This field is required."]);
    let blank = || json!(["This field may not be blank."]);
    let cases: Vec<(String, u16, Value)> = vec![
        (
            r#"{"name":"Other","dni":"11111111"}"#.into(),
            400,
            json!({"detail": "User already exists"}),
        ),
        (
            r#"{"name":"Other","dni":12345}"#.into(),
            400,
            json!({"detail": "User already exists"}),
        ),
        (
            r#"{"name":"Other","dni":" 11111111 "}"#.into(),
            400,
            json!({"dni": ["user with this dni already exists."]}),
        ),
        (r#"{"dni":"3"}"#.into(), 400, json!({"name": required()})),
        (r#"{"name":"C"}"#.into(), 400, json!({"dni": required()})),
        (
            "{}".into(),
            400,
            json!({"dni": required(), "name": required()}),
        ),
        (
            r#"{"name":"","dni":""}"#.into(),
            400,
            json!({"dni": blank(), "name": blank()}),
        ),
        (
            r#"{"name":" \t ","dni":"4"}"#.into(),
            400,
            json!({"name": blank()}),
        ),
        (
            format!(r#"{{"name":"N","dni":"{}"}}"#, "1".repeat(14)),
            400,
            json!({"dni": ["Ensure this field has no more than 13 characters."]}),
        ),
        (
            format!(r#"{{"name":"{}","dni":"5"}}"#, "n".repeat(31)),
            400,
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            format!(r#"{{"name":"{}","dni":"6"}}"#, "日".repeat(31)),
            400,
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            r#"{"name":true,"dni":"7"}"#.into(),
            400,
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":["a"],"dni":"7"}"#.into(),
            400,
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":{"a":1},"dni":"7"}"#.into(),
            400,
            json!({"name": ["Not a valid string."]}),
        ),
        (
            r#"{"name":null,"dni":null}"#.into(),
            400,
            json!({"dni": ["This field may not be null."], "name": ["This field may not be null."]}),
        ),
        (
            r#"{"name":"a\u0000b","dni":"7"}"#.into(),
            400,
            json!({"name": ["Null characters are not allowed."]}),
        ),
        (
            r#"{"name":"a\ud800","dni":"7"}"#.into(),
            400,
            json!({"name": ["Surrogate characters are not allowed: U+D800."]}),
        ),
        (
            r#"{"name":"x","dni":"\udc00"}"#.into(),
            400,
            json!({"dni": ["Surrogate characters are not allowed: U+DC00."]}),
        ),
        (
            "[]".into(),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            r#"[{"name":"a","dni":"8"}]"#.into(),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            r#""str""#.into(),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
        (
            "123".into(),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
        ),
        (
            "true".into(),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got bool."]}),
        ),
        (
            "null".into(),
            400,
            json!({"non_field_errors": ["No data provided"]}),
        ),
    ];
    for (body, want_status, want) in cases {
        let (status, got) = post(&s, &body).await;
        assert_eq!((status, &got), (want_status, &want), "body {body}");
    }
    // Malformed JSON: a 400 with a "JSON parse error" detail, never a 500.
    let deep = format!(r#"{{"name":{}"#, "[".repeat(60_000)); // deep, yet under the 64 KiB cap
    for body in [
        r#"{"name":"Bad", "dni":"#,
        "not json",
        r#"{"name":NaN,"dni":"9"}"#,
        deep.as_str(),
    ] {
        let (status, got) = post(&s, body).await;
        assert_eq!(status, 400, "{body:.40}");
        assert!(
            got["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - "),
            "{got}"
        );
    }
    let res = http()
        .post(s.url("/api/users/"))
        .header(CONTENT_TYPE, "application/json")
        .body(vec![0xff, 0xfe, 0x7b])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

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
        let (status, got) = post(&s, &body).await;
        assert_eq!(status, 201, "{body}: {got}");
        assert_eq!(json!([got["dni"], got["name"]]), want, "{body}");
    }
    let (status, _) = json(http().get(s.url("/api/users/999/")).send().await.unwrap()).await;
    assert_eq!(status, 404, "a client-sent id is ignored");
}

async fn body_formats_and_media_types(b: Backend) {
    let s = Server::start(&b).await;
    let form = http()
        .post(s.url("/api/users/"))
        .form(&[("name", "Form"), ("dni", "80000001")])
        .send()
        .await
        .unwrap();
    let (status, got) = json(form).await;
    assert_eq!((status, &got["name"]), (201, &json!("Form")));

    let part = reqwest::multipart::Form::new()
        .text("name", "Multi")
        .text("dni", "80000002");
    let (status, got) = json(
        http()
            .post(s.url("/api/users/"))
            .multipart(part)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &got["dni"]), (201, &json!("80000002")));

    let res = http()
        .post(s.url("/api/users/"))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(r#"{"name":"Cs","dni":"80000003"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    for ct in ["text/plain", "application/xml", "application/vnd.api+json"] {
        let (status, got) = json(
            http()
                .post(s.url("/api/users/"))
                .header(CONTENT_TYPE, ct)
                .body("{}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, got),
            (
                415,
                json!({"detail": format!("Unsupported media type \"{ct}\" in request.")})
            )
        );
    }
    let (status, got) = json(
        http()
            .post(s.url("/api/users/"))
            .body(r#"{"name":"N","dni":"1"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, got),
        (
            415,
            json!({"detail": "Unsupported media type \"\" in request."})
        )
    );

    for ct in [None, Some("application/json"), Some("text/plain")] {
        let mut req = http().post(s.url("/api/users/"));
        if let Some(ct) = ct {
            req = req.header(CONTENT_TYPE, ct);
        }
        let (status, got) = json(req.send().await.unwrap()).await;
        assert_eq!(status, 400, "empty body with {ct:?}");
        assert_eq!(
            got,
            json!({"dni": ["This field is required."], "name": ["This field is required."]})
        );
    }
    let (status, got) = json(
        http()
            .post(s.url("/api/users/"))
            .header(CONTENT_TYPE, "multipart/form-data")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{got}");
}

async fn body_size_limit(b: Backend) {
    let s = Server::start_with(&b, &[("MAX_BODY_BYTES", "4096")]).await;
    let big = format!(r#"{{"name":"Big","dni":"1","pad":"{}"}}"#, "x".repeat(5000));
    let (status, got) = post(&s, &big).await;
    assert_eq!(status, 413);
    assert_eq!(
        got,
        json!({"detail": "Request body is larger than the limit of 4096 bytes."})
    );
    // Without Content-Length (chunked), the cap holds as well.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
        big.clone(),
    ))]);
    let res = http()
        .post(s.url("/api/users/"))
        .header(CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let fits = format!(
        r#"{{"name":"Fits","dni":"2","pad":"{}"}}"#,
        "x".repeat(3900)
    );
    assert_eq!(post(&s, &fits).await.0, 201);
    // The default cap is 64 KiB.
    let d = Server::start(&b).await;
    let (status, _) = post(
        &d,
        &format!(r#"{{"name":"{}","dni":"3"}}"#, "n".repeat(3 << 20)),
    )
    .await;
    assert_eq!(status, 413);
}

async fn update_patch_delete(b: Backend) {
    use reqwest::Method;
    let s = Server::start(&b).await;
    let (_, bob) = post(&s, r#"{"name":"Bob","dni":"22222222"}"#).await;
    let (_, carol) = post(&s, r#"{"name":"Carol","dni":"33333333"}"#).await;
    let id = bob["id"].as_i64().unwrap();
    let url = s.url(&format!("/api/users/{id}/"));
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
            "application/json",
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob2"}),
        ),
        (
            Method::PUT,
            r#"{"name":"Bob3"}"#,
            "application/json",
            400,
            json!({"dni": ["This field is required."]}),
        ),
        (
            Method::PUT,
            r#"{"name":"Bob3","dni":"22222223"}"#,
            "application/json",
            200,
            json!({"id": id, "dni": "22222223", "name": "Bob3"}),
        ),
        (
            Method::PATCH,
            r#"{"name":"Bob4"}"#,
            "application/json",
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
        (Method::PATCH, &taken, "application/json", 400, exists()),
        (Method::PUT, &taken, "application/json", 400, exists()),
        (
            Method::PATCH,
            &too_long,
            "application/json",
            400,
            json!({"name": ["Ensure this field has no more than 30 characters."]}),
        ),
        (
            Method::PUT,
            "[]",
            "application/json",
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            Method::PATCH,
            r#""x""#,
            "application/json",
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
        (
            Method::PATCH,
            "null",
            "application/json",
            400,
            json!({"non_field_errors": ["No data provided"]}),
        ),
        (
            Method::PUT,
            "{}",
            "text/plain",
            415,
            json!({"detail": "Unsupported media type \"text/plain\" in request."}),
        ),
    ];
    for (method, body, content_type, want_status, want) in cases {
        let res = http()
            .request(method.clone(), &url)
            .header(CONTENT_TYPE, content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await, (want_status, want), "{method} {body}");
    }
    for path in ["/api/users/999999/", "/api/users/abc/"] {
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            let res = http()
                .request(m.clone(), s.url(path))
                .header(CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(
                json(res).await,
                (404, json!({"detail": "Not found."})),
                "{m} {path}"
            );
        }
    }
    let res = http().delete(&url).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.headers().get(CONTENT_TYPE).is_none());
    assert_eq!(res.text().await.unwrap(), "");
    assert_eq!(json(http().get(&url).send().await.unwrap()).await.0, 404);
    assert_eq!(json(http().delete(&url).send().await.unwrap()).await.0, 404);
    assert_eq!(
        post(&s, r#"{"name":"Again","dni":"22222223"}"#).await.0,
        201,
        "a deleted user's dni is free again"
    );
}

async fn ids_never_reused(b: Backend) {
    let s = Server::start(&b).await;
    let (_, a) = post(&s, r#"{"name":"A","dni":"1"}"#).await;
    let (_, c) = post(&s, r#"{"name":"C","dni":"2"}"#).await;
    http()
        .delete(s.url(&format!("/api/users/{}/", c["id"])))
        .send()
        .await
        .unwrap();
    let (_, d) = post(&s, r#"{"name":"D","dni":"3"}"#).await;
    assert!(d["id"].as_i64() > c["id"].as_i64(), "{a} {c} {d}");
}

async fn path_ids(b: Backend) {
    let s = Server::start(&b).await;
    let (_, user) = post(&s, r#"{"name":"One","dni":"1"}"#).await;
    let id = user["id"].as_i64().unwrap();
    for path in [format!("/api/users/0{id}/"), format!("/api/users/+{id}/")] {
        let (status, got) = json(http().get(s.url(&path)).send().await.unwrap()).await;
        assert_eq!((status, &got), (200, &user), "{path}");
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
        let res = http().get(s.url(path)).send().await.unwrap();
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json", "{path}");
        let (status, got) = json(res).await;
        assert_eq!(
            (status, got),
            (404, json!({"detail": "Not found."})),
            "{path}"
        );
    }
}

async fn methods_allow_and_headers(b: Backend) {
    let s = Server::start(&b).await;
    let (_, user) = post(&s, r#"{"name":"One","dni":"1"}"#).await;
    let detail = format!("/api/users/{}/", user["id"]);
    for m in ["PUT", "PATCH", "DELETE"] {
        let res = http()
            .request(m.parse().unwrap(), s.url("/api/users/"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()[ALLOW], "GET, POST, HEAD, OPTIONS");
        let (status, got) = json(res).await;
        assert_eq!(
            (status, got),
            (
                405,
                json!({"detail": format!("Method \"{m}\" not allowed.")})
            )
        );
    }
    let res = http().post(s.url(&detail)).send().await.unwrap();
    assert_eq!(
        res.headers()[ALLOW],
        "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
    );
    assert_eq!(
        json(res).await,
        (405, json!({"detail": "Method \"POST\" not allowed."}))
    );
    let (status, _) = json(http().post(s.url("/api/")).send().await.unwrap()).await;
    assert_eq!(status, 405);

    for (path, allow) in [
        ("/api/users/", "GET, POST, HEAD, OPTIONS"),
        (detail.as_str(), "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    ] {
        let res = http().get(s.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h[ALLOW], allow);
        assert_eq!(h["vary"], "Accept");
        assert_eq!(h[CONTENT_TYPE], "application/json");
        let head = http().head(s.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(head.text().await.unwrap(), "");
    }
    assert_eq!(
        http()
            .head(s.url("/api/users/424242/"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for path in ["/hello", "/api/users/", "/nope", "/healthz", "/metrics"] {
        let res = http().get(s.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
}

async fn trailing_slash_optional(b: Backend) {
    let s = Server::start(&b).await;
    let res = http()
        .post(s.url("/api/users"))
        .json(&json!({"name": "NoSlash", "dni": "1"}))
        .send()
        .await
        .unwrap();
    let (status, user) = json(res).await;
    assert_eq!(
        status, 201,
        "POST without the slash is served, not redirected"
    );
    let (status, got) = json(
        http()
            .get(s.url(&format!("/api/users/{}", user["id"])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, got), (200, user.clone()));
    let (status, list) = json(
        http()
            .get(s.url("/api/users?format=json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, list), (200, json!([user])));
    let (status, _) = json(
        http()
            .patch(s.url(&format!("/api/users/{}", user["id"])))
            .json(&json!({"name": "P"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(http().get(s.url("/ht")).send().await.unwrap().status(), 200);
}

async fn negotiation(b: Backend) {
    let s = Server::start(&b).await;
    assert_eq!(
        json(
            http()
                .get(s.url("/api/users/?format=json"))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        200
    );
    let (status, got) = json(
        http()
            .get(s.url("/api/users/?format=xml"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, got), (404, json!({"detail": "Not found."})));
    let (status, got) = json(
        http()
            .get(s.url("/api/users/"))
            .header(ACCEPT, "application/xml")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, got),
        (
            406,
            json!({"detail": "Could not satisfy the request Accept header."})
        )
    );
    for accept in [
        "*/*",
        "application/json",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ] {
        let res = http()
            .get(s.url("/api/users/"))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{accept}");
    }
}

async fn options_metadata(b: Backend) {
    let s = Server::start(&b).await;
    let (status, got) = json(
        http()
            .request(reqwest::Method::OPTIONS, s.url("/api/users/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "User List");
    assert_eq!(got["actions"]["POST"]["dni"]["max_length"], 13);
    assert_eq!(got["actions"]["POST"]["name"]["max_length"], 30);
    assert_eq!(got["actions"]["POST"]["id"]["read_only"], true);
    let (_, user) = post(&s, r#"{"name":"One","dni":"1"}"#).await;
    let (status, got) = json(
        http()
            .request(
                reqwest::Method::OPTIONS,
                s.url(&format!("/api/users/{}/", user["id"])),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &got["name"]), (200, &json!("User Instance")));
    assert!(got["actions"]["PUT"].is_object());
    let (status, got) = json(
        http()
            .request(reqwest::Method::OPTIONS, s.url("/api/users/777777/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(got.get("actions").is_none());
}

/// The original leaked IntegrityError 500s here. The unique index decides: one 201, only 400s.
async fn concurrent_duplicate_creates(b: Backend) {
    let s = Server::start(&b).await;
    for round in 0..3 {
        let dni = format!("race{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (url, barrier, dni) = (s.url("/api/users/"), barrier.clone(), dni.clone());
                tokio::spawn(async move {
                    let client = http();
                    barrier.wait().await;
                    json(
                        client
                            .post(url)
                            .json(&json!({"name": format!("R{i}"), "dni": dni}))
                            .send()
                            .await
                            .unwrap(),
                    )
                    .await
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                201 => created += 1,
                400 => assert_eq!(body, json!({"detail": "User already exists"})),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(created, 1, "round {round}");
    }
    let (_, list) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
}

async fn concurrent_distinct_creates(b: Backend) {
    let s = Server::start(&b).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let url = s.url("/api/users/");
            tokio::spawn(async move {
                http()
                    .post(url)
                    .json(&json!({"name": "P", "dni": format!("p{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let (_, list) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!(list.as_array().unwrap().len(), 60);
}

async fn pagination(b: Backend) {
    let s = Server::start(&b).await;
    for i in 0..5 {
        post(&s, &format!(r#"{{"name":"U{i}","dni":"{i}"}}"#)).await;
    }
    let names = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, page) = json(
        http()
            .get(s.url("/api/users/?limit=2&offset=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(names(page), ["U1", "U2"]);
    let (_, page) = json(
        http()
            .get(s.url("/api/users/?offset=3"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(names(page), ["U3", "U4"]);
    for q in ["limit=0", "limit=1001", "limit=abc", "offset=-1"] {
        let (status, got) = json(
            http()
                .get(s.url(&format!("/api/users/?{q}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
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
    let s = Server::start(&b).await;
    let host = s.base.trim_start_matches("http://").to_owned();
    let (status, got) = json(http().get(s.url("/api/")).send().await.unwrap()).await;
    assert_eq!(
        (status, got),
        (200, json!({"users": format!("http://{host}/api/users/")}))
    );
}
