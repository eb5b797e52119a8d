//! DRF's body parsers: JSON, form-urlencoded and multipart bodies become the submitted fields.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::ApiError;

/// The submitted fields of a body, as DRF's `request.data` holds them.
pub type Fields = Map<String, Value>;

/// The submitted fields of a request whose body axum buffered up to `limit` bytes: 413 beyond
/// it (nothing over the limit is read), 400 for a body that breaks off.
pub async fn request_fields(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Fields, ApiError> {
    match body {
        Ok(body) => parse_body(headers, body).await,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

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
// client sends) and `take_lone_surrogates` reports it back.
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

/// Replaces each marked lone surrogate by U+FFFD (one code point, as the original counted it) and
/// returns the first one's code unit.
pub(super) fn take_lone_surrogates(s: &str) -> (String, Option<u16>) {
    if !s.contains(MARK_OPEN) {
        return (s.to_owned(), None);
    }
    let (mut out, mut first, mut rest) = (String::with_capacity(s.len()), None, s);
    while let Some(start) = rest.find(MARK_OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + MARK_OPEN.len_utf8()..];
        let code = after
            .get(..4)
            .filter(|_| after[4..].starts_with(MARK_CLOSE))
            .and_then(|hex| u16::from_str_radix(hex, 16).ok());
        match code {
            Some(code) => {
                first.get_or_insert(code);
                out.push('\u{FFFD}');
                rest = &after[4 + MARK_CLOSE.len_utf8()..];
            }
            None => {
                out.push(MARK_OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_marked_and_taken_back() {
        let f = parse_json(br#"{"name":"a\ud800b","dni":"\udc00","ok":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(f["ok"], "\u{1F600}");
        assert_eq!(
            take_lone_surrogates(f["name"].as_str().unwrap()),
            ("a\u{FFFD}b".to_owned(), Some(0xD800))
        );
        assert_eq!(
            take_lone_surrogates(f["dni"].as_str().unwrap()),
            ("\u{FFFD}".to_owned(), Some(0xDC00))
        );
        assert_eq!(take_lone_surrogates("plain"), ("plain".to_owned(), None));
    }

    #[test]
    fn non_objects_get_drf_errors() {
        for (body, want) in [
            ("[]", "Invalid data. Expected a dictionary, but got list."),
            ("1.5", "Invalid data. Expected a dictionary, but got float."),
            ("null", "No data provided"),
        ] {
            let err = parse_json(body.as_bytes()).unwrap_err();
            assert_eq!(err.body["non_field_errors"][0], want, "{body}");
        }
    }
}
