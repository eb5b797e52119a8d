//! The users API's shapes on the wire, as the OpenAPI document describes them. They are written
//! as JSON Schema by hand where the derive cannot say what the server accepts: a dni or name is
//! trimmed of Python's whitespace before its length is counted, and JSON numbers are accepted and
//! stored as the text Python prints for them.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{DNI_MAX_CHARS, NAME_MAX_CHARS, User};

/// A user in responses: keys in the model's field order.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    pub id: i64,
    pub dni: String,
    pub name: String,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        UserJson {
            id: u.id,
            dni: u.dni.as_str().to_owned(),
            name: u.name.as_str().to_owned(),
        }
    }
}

/// Python's whitespace, which DRF trims (drf::text::is_py_space), as a regex class body.
const PY_SPACE: &str =
    r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A string that is 1..=`max` code points without NUL once Python's whitespace is trimmed.
fn short_text(max: usize) -> Value {
    let inner = format!(r"[^\x00{PY_SPACE}]");
    json!({
        "type": "string",
        "pattern": format!(r"^[{PY_SPACE}]*{inner}(?:[^\x00]{{0,{}}}{inner})?[{PY_SPACE}]*$", max - 2),
    })
}

fn dni_text() -> Value {
    let mut s = short_text(DNI_MAX_CHARS);
    s["description"] = json!(format!(
        "Unique. 1..={DNI_MAX_CHARS} code points once surrounding whitespace is trimmed; no NUL."
    ));
    s
}

fn name_text() -> Value {
    let mut s = short_text(NAME_MAX_CHARS);
    s["description"] = json!(format!(
        "1..={NAME_MAX_CHARS} code points once surrounding whitespace is trimmed; no NUL."
    ));
    s
}

/// A JSON body's dni: text, or an integer whose digits fit (stored as text). A float is accepted
/// too when Python's text for it fits (`1.5` becomes "1.5"); JSON Schema cannot say which floats
/// those are, so the document leaves floats out.
fn dni_json() -> Value {
    let largest = 10_i64.pow(DNI_MAX_CHARS as u32) - 1;
    let smallest = -(10_i64.pow(DNI_MAX_CHARS as u32 - 1) - 1);
    json!({"anyOf": [dni_text(), {"type": "integer", "minimum": smallest, "maximum": largest}]})
}

/// A JSON body's name: text or any number (Python prints every float in at most 24 characters).
fn name_json() -> Value {
    json!({"anyOf": [name_text(), {"type": "number"}]})
}

fn object(properties: Value, required: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": properties});
    if required {
        schema["required"] = json!(["dni", "name"]);
    }
    schema
}

fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).expect("a valid JSON Schema")
}

macro_rules! hand_written_schema {
    ($name:ident, $doc:literal, $schema:expr) => {
        #[doc = $doc]
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

hand_written_schema!(
    NewUserJson,
    "POST and PUT, as JSON: both fields. Other keys are ignored.",
    schema(object(
        json!({"dni": dni_json(), "name": name_json()}),
        true
    ))
);
hand_written_schema!(
    UserPatchJson,
    "PATCH, as JSON: any of the fields; an absent one keeps its value.",
    schema(object(
        json!({"dni": dni_json(), "name": name_json()}),
        false
    ))
);
hand_written_schema!(
    NewUserForm,
    "POST and PUT, as a urlencoded form: both fields.",
    schema(object(
        json!({"dni": dni_text(), "name": name_text()}),
        true
    ))
);
hand_written_schema!(
    UserPatchForm,
    "PATCH, as a urlencoded form: any of the fields.",
    schema(object(
        json!({"dni": dni_text(), "name": name_text()}),
        false
    ))
);
hand_written_schema!(
    NewUserMultipart,
    "POST and PUT, as a multipart form: both fields.",
    schema(object(
        json!({"dni": dni_text(), "name": name_text()}),
        true
    ))
);
hand_written_schema!(
    UserPatchMultipart,
    "PATCH, as a multipart form: any of the fields.",
    schema(object(
        json!({"dni": dni_text(), "name": name_text()}),
        false
    ))
);
/// What utoipa's schema types cannot hold, set on the finished document.
pub fn complete(doc: &mut Value) {
    // In multipart bodies field names travel in part headers, where control characters other than
    // tab are not allowed (RFC 9110 field values): such a body is malformed, a 400.
    for name in ["NewUserMultipart", "UserPatchMultipart"] {
        doc["components"]["schemas"][name]["propertyNames"] =
            json!({"pattern": r"^[^\x00-\x08\x0a-\x1f\x7f]*$"});
    }
    // A PATCH without a body is an empty form, which changes nothing (utoipa marks every
    // request body it knows the type of as required).
    doc["paths"]["/api/users/{id}/"]["patch"]["requestBody"]["required"] = json!(false);
}

fn detail() -> Value {
    json!({
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    })
}

fn field_errors() -> Value {
    json!({
        "type": "object",
        "description": "Each field (or `non_field_errors`) with its messages.",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "minProperties": 1,
    })
}

hand_written_schema!(
    Detail,
    "An error: `{\"detail\": message}`.",
    schema(detail())
);
hand_written_schema!(
    BadRequest,
    "A 400: validation errors, or a `detail` (a malformed body, `User already exists`).",
    schema(json!({"oneOf": [field_errors(), detail()]}))
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drf::text::is_py_space;

    /// The pattern's whitespace class is Python's, as the server trims it.
    #[test]
    fn whitespace_class_is_pythons() {
        let listed: Vec<char> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| is_py_space(*c))
            .collect();
        let class: String = listed
            .iter()
            .map(|c| format!("\\u{{{:x}}}", *c as u32))
            .collect();
        assert_eq!(listed.len(), 29, "{class}");
        for c in listed {
            let code = c as u32;
            let named = match code {
                0x09 => PY_SPACE.contains(r"\t"),
                0x0a => PY_SPACE.contains(r"\n"),
                0x0d => PY_SPACE.contains(r"\r"),
                0x0b | 0x0c | 0x85 | 0xa0 => PY_SPACE.contains(&format!(r"\x{code:02x}")),
                0x1c..=0x20 => PY_SPACE.contains(r"\x1c-\x20"),
                0x2000..=0x200a => PY_SPACE.contains(r"\u2000-\u200a"),
                _ => PY_SPACE.contains(&format!(r"\u{code:04x}")),
            };
            assert!(
                named,
                "U+{code:04X} is Python whitespace but not in the pattern"
            );
        }
    }
}
