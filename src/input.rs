//! Request bodies and validation, wire-compatible with the original Django REST Framework app:
//! JSON, form-urlencoded and multipart bodies; DRF CharField rules and messages.

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

pub type Fields = Map<String, Value>;

pub const DNI_MAX: usize = 13;
pub const NAME_MAX: usize = 30;

/// Parses a request body into the submitted fields, as DRF's parsers would.
/// An empty body is an empty form whatever the content type (DRF does the same).
pub async fn parse_body(headers: &HeaderMap, body: Bytes) -> Result<Fields, ApiError> {
    if body.is_empty() {
        return Ok(Fields::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => parse_json(&body),
        "application/x-www-form-urlencoded" => {
            Ok(serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .map_err(|e| ApiError::bad_request(format!("Form parse error - {e}")))?
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        "multipart/form-data" => parse_multipart(&content_type, body).await,
        _ => Err(ApiError::unsupported_media_type(&content_type)),
    }
}

fn parse_json(body: &[u8]) -> Result<Fields, ApiError> {
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(e) if e.to_string().contains("surrogate") || e.to_string().contains("hex escape") => {
            // serde_json refuses lone UTF-16 surrogates outright; DRF parses them and then rejects
            // the field. Mark them so validation can name the field and the code point.
            serde_json::from_slice::<Value>(&mark_lone_surrogates(body)).map_err(json_error)?
        }
        Err(e) => return Err(json_error(e)),
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Err(ApiError::non_field("No data provided")),
        other => Err(ApiError::non_field(format!(
            "Invalid data. Expected a dictionary, but got {}.",
            python_type_name(&other)
        ))),
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("JSON parse error - {e}"))
}

fn python_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Fields, ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::bad_request(format!("Multipart form parse error - {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Fields::new();
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("Multipart form parse error - {e}")))?;
        let Some(field) = field else { break };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        // An uploaded file is not a string (DRF: "Not a valid string.").
        let value =
            if field.file_name().is_some() {
                Value::Array(Vec::new())
            } else {
                Value::String(field.text().await.map_err(|e| {
                    ApiError::bad_request(format!("Multipart form parse error - {e}"))
                })?)
            };
        fields.insert(name, value); // the last value wins, like QueryDict.get
    }
    Ok(fields)
}

// A lone surrogate escape \uD800 becomes U+FDD0, the four hex digits, U+FDD1 (noncharacters no
// client sends) and `surrogate_in` reports it back.
const MARK_OPEN: char = '\u{FDD0}';
const MARK_CLOSE: char = '\u{FDD1}';

fn mark_lone_surrogates(body: &[u8]) -> Vec<u8> {
    fn hex4(b: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    let (mut i, mut in_string) = (0, false);
    while i < body.len() {
        let b = body[i];
        if !in_string {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
                i += 1;
            }
            b'\\' if body.get(i + 1) == Some(&b'u') => {
                let Some(code) = hex4(&body[i + 2..]) else {
                    out.extend_from_slice(&body[i..i + 2]);
                    i += 2;
                    continue;
                };
                let paired_low = (0xD800..0xDC00).contains(&code)
                    && body.get(i + 6) == Some(&b'\\')
                    && body.get(i + 7) == Some(&b'u')
                    && hex4(&body[i + 8..]).is_some_and(|c| (0xDC00..0xE000).contains(&c));
                if paired_low {
                    out.extend_from_slice(&body[i..i + 12]);
                    i += 12;
                } else if (0xD800..0xE000).contains(&code) {
                    out.extend_from_slice(format!("{MARK_OPEN}{code:04X}{MARK_CLOSE}").as_bytes());
                    i += 6;
                } else {
                    out.extend_from_slice(&body[i..i + 6]);
                    i += 6;
                }
            }
            b'\\' => {
                out.extend_from_slice(&body[i..(i + 2).min(body.len())]);
                i += 2;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn surrogate_in(s: &str) -> Option<&str> {
    let start = s.find(MARK_OPEN)? + MARK_OPEN.len_utf8();
    let hex = s.get(start..start + 4)?;
    (s[start + 4..].starts_with(MARK_CLOSE) && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then_some(hex)
}

/// Python's str.strip(): Unicode White_Space plus the ASCII separators U+001C..U+001F.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// str() of a JSON number as Python prints it: ints in full, floats in repr form (12.5, 1e+16).
fn py_number_str(n: &serde_json::Number) -> String {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        py_float_repr(f)
    } else {
        n.to_string()
    }
}

fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's {:e} gives the shortest round-trip digits, as Python's repr does.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("numeric exponent");
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Validates one DRF CharField(max_length, trim_whitespace=True, allow_blank=False).
/// `Ok(None)`: absent and not required (PATCH).
pub fn char_field(
    fields: &Fields,
    key: &str,
    max_len: usize,
    required: bool,
) -> Result<Option<String>, Vec<String>> {
    let raw = match fields.get(key) {
        None if required => return Err(vec!["This field is required.".into()]),
        None => return Ok(None),
        Some(Value::Null) => return Err(vec!["This field may not be null.".into()]),
        Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => {
            return Err(vec!["Not a valid string.".into()]);
        }
        Some(Value::Number(n)) => py_number_str(n),
        Some(Value::String(s)) => s.clone(),
    };
    let value = py_strip(&raw);
    if value.is_empty() {
        return Err(vec!["This field may not be blank.".into()]);
    }
    let mut errors = Vec::new();
    // A marked surrogate stands for one code point, as in the original.
    let len = value.chars().count() - 5 * value.matches(MARK_OPEN).count();
    if len > max_len {
        errors.push(format!(
            "Ensure this field has no more than {max_len} characters."
        ));
    }
    if value.contains('\0') {
        errors.push("Null characters are not allowed.".into());
    }
    if let Some(code) = surrogate_in(value) {
        errors.push(format!("Surrogate characters are not allowed: U+{code}."));
    }
    if errors.is_empty() {
        Ok(Some(value.to_owned()))
    } else {
        Err(errors)
    }
}

/// The raw dni as the original's duplicate pre-check saw it (before trimming), used to pick the
/// same error shape for a conflicting create.
pub fn raw_dni(fields: &Fields) -> Option<String> {
    match fields.get("dni")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(py_number_str(n)),
        _ => None,
    }
}

#[derive(Debug)]
pub struct UserInput {
    pub dni: Option<String>,
    pub name: Option<String>,
}

/// Validates dni and name; `partial` for PATCH (absent fields keep their value).
pub fn validate_user(fields: &Fields, partial: bool) -> Result<UserInput, ApiError> {
    let dni = char_field(fields, "dni", DNI_MAX, !partial);
    let name = char_field(fields, "name", NAME_MAX, !partial);
    match (dni, name) {
        (Ok(dni), Ok(name)) => Ok(UserInput { dni, name }),
        (dni, name) => {
            let mut errors = Map::new();
            if let Err(e) = dni {
                errors.insert("dni".into(), e.into());
            }
            if let Err(e) = name {
                errors.insert("name".into(), e.into());
            }
            Err(ApiError::fields(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn python_float_repr_matches() {
        for (f, s) in [
            (12.5, "12.5"),
            (1.5, "1.5"),
            (1000.0, "1000.0"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345.6, "123456789012345.6"),
            (-0.5, "-0.5"),
        ] {
            assert_eq!(py_float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn numbers_become_strings() {
        let f = fields(json!({"dni": 12345, "name": 12.5}));
        let u = validate_user(&f, false).unwrap();
        assert_eq!(u.dni.as_deref(), Some("12345"));
        assert_eq!(u.name.as_deref(), Some("12.5"));
    }

    #[test]
    fn trims_then_counts_code_points() {
        let name = format!("  {}  ", "日".repeat(30));
        assert_eq!(
            char_field(&fields(json!({ "name": name })), "name", 30, true)
                .unwrap()
                .unwrap(),
            "日".repeat(30)
        );
        let err =
            char_field(&fields(json!({"name": "日".repeat(31)})), "name", 30, true).unwrap_err();
        assert_eq!(err, ["Ensure this field has no more than 30 characters."]);
        assert_eq!(
            char_field(&fields(json!({"dni": "\t93000009\n"})), "dni", 13, true)
                .unwrap()
                .unwrap(),
            "93000009"
        );
    }

    #[test]
    fn drf_messages() {
        let cases = [
            (json!({}), "This field is required."),
            (json!({"name": null}), "This field may not be null."),
            (json!({"name": true}), "Not a valid string."),
            (json!({"name": ["a"]}), "Not a valid string."),
            (json!({"name": " \t "}), "This field may not be blank."),
            (
                json!({"name": "a\u{0}b"}),
                "Null characters are not allowed.",
            ),
        ];
        for (body, msg) in cases {
            assert_eq!(
                char_field(&fields(body.clone()), "name", 30, true).unwrap_err(),
                [msg],
                "{body}"
            );
        }
        assert_eq!(
            char_field(&fields(json!({})), "name", 30, false).unwrap(),
            None
        );
    }

    #[test]
    fn lone_surrogates_are_reported_per_field() {
        let f = parse_json(br#"{"name":"a\ud800b","dni":"\udc00","ok":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(f["ok"], "\u{1F600}");
        assert_eq!(
            char_field(&f, "name", 30, true).unwrap_err(),
            ["Surrogate characters are not allowed: U+D800."]
        );
        assert_eq!(
            char_field(&f, "dni", 13, true).unwrap_err(),
            ["Surrogate characters are not allowed: U+DC00."]
        );
    }

    #[test]
    fn strip_is_pythons() {
        assert_eq!(py_strip("\u{1f}\u{a0} x \u{3000}"), "x");
    }
}
