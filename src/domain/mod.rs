//! What a user is, independent of HTTP and SQL. Values are parsed once into types that cannot hold
//! an invalid user (`Dni`, `UserName`), so code past the parser never re-checks them.

mod user;

pub use user::{
    DNI_MAX_CHARS, Dni, NAME_MAX_CHARS, NewUser, Submitted, TextError, User, UserName, UserPatch,
};
