//! The users serializer: submitted fields become a `NewUser` or a `UserPatch`, or DRF's field
//! errors with DRF's messages.

use serde_json::{Map, Value};

use super::ApiError;
use super::parsers::Fields;
use super::text::{CharInput, char_input, raw_text};
use crate::domain::{Dni, NewUser, Submitted, TextError, UserName, UserPatch};

/// The fields of a create (POST) or a replace (PUT): both are required.
pub fn new_user(fields: &Fields) -> Result<NewUser, ApiError> {
    match (
        field(fields, "dni", Dni::parse),
        field(fields, "name", UserName::parse),
    ) {
        (Ok(Some(dni)), Ok(Some(name))) => Ok(NewUser { dni, name }),
        (dni, name) => Err(field_errors([
            ("dni", dni.and_then(required).err()),
            ("name", name.and_then(required).err()),
        ])),
    }
}

/// The fields of a partial update (PATCH): each is optional.
pub fn user_patch(fields: &Fields) -> Result<UserPatch, ApiError> {
    match (
        field(fields, "dni", Dni::parse),
        field(fields, "name", UserName::parse),
    ) {
        (Ok(dni), Ok(name)) => Ok(UserPatch { dni, name }),
        (dni, name) => Err(field_errors([("dni", dni.err()), ("name", name.err())])),
    }
}

/// A create whose dni is taken. The original answered `{"detail":"User already exists"}` when
/// the dni matched as sent (its pre-check), and the serializer's field error when only the
/// trimmed value did. Both shapes are kept.
pub fn create_conflict(fields: &Fields, dni: &Dni) -> ApiError {
    if raw_text(fields, "dni").as_deref() == Some(dni.as_str()) {
        ApiError::bad_request("User already exists")
    } else {
        dni_taken()
    }
}

/// The serializer's unique validator.
pub fn dni_taken() -> ApiError {
    ApiError::field("dni", "user with this dni already exists.")
}

type FieldResult<T> = Result<Option<T>, Vec<String>>;

fn field<T>(
    fields: &Fields,
    key: &str,
    parse: fn(Submitted) -> Result<T, Vec<TextError>>,
) -> FieldResult<T> {
    match char_input(fields, key) {
        CharInput::Absent => Ok(None),
        CharInput::Null => Err(vec!["This field may not be null.".into()]),
        CharInput::NotAString => Err(vec!["Not a valid string.".into()]),
        CharInput::Text(text) => parse(text)
            .map(Some)
            .map_err(|errors| errors.into_iter().map(message).collect()),
    }
}

fn required<T>(value: Option<T>) -> FieldResult<T> {
    match value {
        Some(v) => Ok(Some(v)),
        None => Err(vec!["This field is required.".into()]),
    }
}

fn message(e: TextError) -> String {
    match e {
        TextError::Blank => "This field may not be blank.".into(),
        TextError::TooLong { max } => {
            format!("Ensure this field has no more than {max} characters.")
        }
        TextError::NulCharacter => "Null characters are not allowed.".into(),
        TextError::LoneSurrogate(code) => {
            format!("Surrogate characters are not allowed: U+{code:04X}.")
        }
    }
}

fn field_errors<const N: usize>(errors: [(&str, Option<Vec<String>>); N]) -> ApiError {
    let errors: Map<String, Value> = errors
        .into_iter()
        .filter_map(|(key, e)| e.map(|messages| (key.to_owned(), messages.into())))
        .collect();
    ApiError::fields(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn drf_messages() {
        let cases = [
            (
                json!({}),
                json!({"dni": ["This field is required."], "name": ["This field is required."]}),
            ),
            (
                json!({"dni": "1", "name": null}),
                json!({"name": ["This field may not be null."]}),
            ),
            (
                json!({"dni": true, "name": "x"}),
                json!({"dni": ["Not a valid string."]}),
            ),
            (
                json!({"dni": "1", "name": " \t "}),
                json!({"name": ["This field may not be blank."]}),
            ),
            (
                json!({"dni": "1", "name": "a\u{0}b"}),
                json!({"name": ["Null characters are not allowed."]}),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                new_user(&fields(body.clone())).unwrap_err().body,
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn patch_fields_are_optional_but_still_checked() {
        assert_eq!(
            user_patch(&fields(json!({}))).unwrap(),
            UserPatch::default()
        );
        assert_eq!(
            user_patch(&fields(json!({"name": "n".repeat(31)})))
                .unwrap_err()
                .body,
            json!({"name": ["Ensure this field has no more than 30 characters."]})
        );
    }

    #[test]
    fn conflict_shape_depends_on_the_raw_dni() {
        let dni = Dni::parse("11111111".into()).unwrap();
        let exact = fields(json!({"dni": "11111111"}));
        let padded = fields(json!({"dni": " 11111111 "}));
        assert_eq!(
            create_conflict(&exact, &dni).body,
            json!({"detail": "User already exists"})
        );
        assert_eq!(
            create_conflict(&padded, &dni).body,
            json!({"dni": ["user with this dni already exists."]})
        );
    }
}
