//! Python's string rules, as DRF's `CharField(trim_whitespace=True)` applies them: a submitted
//! number becomes the text Python's `str()` prints, and surrounding whitespace is stripped the way
//! Python's `str.strip()` does.

use serde_json::{Number, Value};

use super::parsers::{Fields, take_lone_surrogates};
use crate::domain::Submitted;

/// What a `CharField` finds under a key, before its validators run.
#[derive(Debug, PartialEq, Eq)]
pub enum CharInput {
    Absent,
    Null,
    NotAString,
    Text(Submitted),
}

/// `str(value).strip()` of a submitted field.
pub fn char_input(fields: &Fields, key: &str) -> CharInput {
    let raw = match fields.get(key) {
        None => return CharInput::Absent,
        Some(Value::Null) => return CharInput::Null,
        Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => return CharInput::NotAString,
        Some(Value::Number(n)) => py_number_str(n),
        Some(Value::String(s)) => s.clone(),
    };
    let (text, lone_surrogate) = take_lone_surrogates(py_strip(&raw));
    CharInput::Text(Submitted {
        text,
        lone_surrogate,
    })
}

/// The value under a key as submitted, untrimmed: the original's duplicate pre-check compared this.
pub fn raw_text(fields: &Fields, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(py_number_str(n)),
        _ => None,
    }
}

/// Python's whitespace (`str.isspace()`): Unicode White_Space plus the ASCII separators
/// U+001C..U+001F. The OpenAPI patterns list the same characters (routes/users.rs).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `str()` of a JSON number as Python prints it: ints in full, floats in repr form (12.5, 1e+16).
pub fn py_number_str(n: &Number) -> String {
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
    fn numbers_become_strings_and_text_is_stripped() {
        let f = fields(json!({"dni": 12345, "name": 12.5, "t": "\t93000009\n"}));
        assert_eq!(char_input(&f, "dni"), CharInput::Text("12345".into()));
        assert_eq!(char_input(&f, "name"), CharInput::Text("12.5".into()));
        assert_eq!(char_input(&f, "t"), CharInput::Text("93000009".into()));
        assert_eq!(raw_text(&f, "t").as_deref(), Some("\t93000009\n"));
    }

    #[test]
    fn wrong_types() {
        let f = fields(json!({"n": null, "b": true, "a": ["a"], "o": {"a": 1}}));
        assert_eq!(char_input(&f, "missing"), CharInput::Absent);
        assert_eq!(char_input(&f, "n"), CharInput::Null);
        for key in ["b", "a", "o"] {
            assert_eq!(char_input(&f, key), CharInput::NotAString, "{key}");
        }
    }

    #[test]
    fn strip_is_pythons() {
        assert_eq!(py_strip("\u{1f}\u{a0} x \u{3000}"), "x");
        assert_eq!(
            py_strip("\u{feff}x"),
            "\u{feff}x",
            "BOM is not whitespace in Python"
        );
    }
}
