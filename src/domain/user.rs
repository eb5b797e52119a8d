//! Users: a unique dni and a name, both short texts.

use crate::storage::UserRow;

/// Longest dni, in code points.
pub const DNI_MAX_CHARS: usize = 13;
/// Longest name, in code points.
pub const NAME_MAX_CHARS: usize = 30;

/// A text field as a client submitted it, already decoded and trimmed by the wire layer.
/// JSON can carry a lone UTF-16 surrogate, which no Rust string can hold: the decoder puts
/// U+FFFD in its place (still one code point) and reports the first one here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub text: String,
    pub lone_surrogate: Option<u16>,
}

impl From<&str> for Submitted {
    fn from(text: &str) -> Self {
        Submitted {
            text: text.to_owned(),
            lone_surrogate: None,
        }
    }
}

/// Why a submitted text is not a valid dni or name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    Blank,
    TooLong { max: usize },
    NulCharacter,
    LoneSurrogate(u16),
}

/// A text of 1..=`max` code points without NUL characters or lone surrogates. Every problem is
/// reported, except that a blank text is only blank.
fn short_text(input: Submitted, max: usize) -> Result<String, Vec<TextError>> {
    if input.text.is_empty() {
        return Err(vec![TextError::Blank]);
    }
    let mut errors = Vec::new();
    if input.text.chars().count() > max {
        errors.push(TextError::TooLong { max });
    }
    if input.text.contains('\0') {
        errors.push(TextError::NulCharacter);
    }
    if let Some(code) = input.lone_surrogate {
        errors.push(TextError::LoneSurrogate(code));
    }
    if errors.is_empty() {
        Ok(input.text)
    } else {
        Err(errors)
    }
}

/// A user's national id: 1..=13 code points, unique among users (the database decides that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dni(String);

impl Dni {
    pub fn parse(input: Submitted) -> Result<Self, Vec<TextError>> {
        short_text(input, DNI_MAX_CHARS).map(Dni)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's name: 1..=30 code points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(input: Submitted) -> Result<Self, Vec<TextError>> {
        short_text(input, NAME_MAX_CHARS).map(UserName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything needed to create a user, or to replace one (PUT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub dni: Dni,
    pub name: UserName,
}

/// A partial update (PATCH): absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub dni: Option<Dni>,
    pub name: Option<UserName>,
}

impl UserPatch {
    /// The user after the patch.
    pub fn apply_to(self, current: User) -> NewUser {
        NewUser {
            dni: self.dni.unwrap_or(current.dni),
            name: self.name.unwrap_or(current.name),
        }
    }
}

/// A stored user. Ids only grow and are never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub dni: Dni,
    pub name: UserName,
}

/// Rows hold only values that were parsed before they were written.
impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            dni: Dni(row.dni),
            name: UserName(row.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_code_points() {
        assert!(UserName::parse("日".repeat(30).as_str().into()).is_ok());
        assert_eq!(
            UserName::parse("日".repeat(31).as_str().into()),
            Err(vec![TextError::TooLong { max: 30 }])
        );
        assert!(Dni::parse("ABCDEFGHñññññ".into()).is_ok());
        assert_eq!(
            Dni::parse("1".repeat(14).as_str().into()),
            Err(vec![TextError::TooLong { max: 13 }])
        );
    }

    #[test]
    fn blank_is_only_blank_and_other_problems_add_up() {
        assert_eq!(UserName::parse("".into()), Err(vec![TextError::Blank]));
        let bad = Submitted {
            text: format!("{}\0\u{FFFD}", "n".repeat(30)),
            lone_surrogate: Some(0xD800),
        };
        assert_eq!(
            UserName::parse(bad),
            Err(vec![
                TextError::TooLong { max: 30 },
                TextError::NulCharacter,
                TextError::LoneSurrogate(0xD800)
            ])
        );
    }

    #[test]
    fn patch_keeps_absent_fields() {
        let current = User {
            id: 7,
            dni: Dni::parse("1".into()).unwrap(),
            name: UserName::parse("Old".into()).unwrap(),
        };
        let patch = UserPatch {
            name: Some(UserName::parse("New".into()).unwrap()),
            ..UserPatch::default()
        };
        let next = patch.apply_to(current);
        assert_eq!((next.dni.as_str(), next.name.as_str()), ("1", "New"));
    }
}
