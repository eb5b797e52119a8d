//! Wire compatibility with the original Django REST Framework app, in one place: content
//! negotiation, body parsers, Python's string rules, the users serializer's messages, error
//! shapes, trailing slashes and JSON 405s, OPTIONS metadata and the `/ht/` page.
//! docs/contract.md says what is kept and what is deliberately different.

mod error;
pub mod health;
pub mod metadata;
pub mod negotiation;
pub mod parsers;
pub mod routing;
pub mod serializer;
pub mod text;

pub use error::ApiError;
