//! The one error type of the core. The binding layer maps each variant to a Python exception once.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument has a bad value; `argument` names it so the user knows what to fix.
    InvalidArgument { argument: String, message: String },
    /// Serialized state bytes that cannot be trusted (truncated, corrupted, foreign, wrong version).
    InvalidState(String),
}

impl Error {
    pub fn invalid(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument: argument.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument { argument, message } => write!(f, "{argument}: {message}"),
            Error::InvalidState(message) => write!(f, "invalid undertow state bytes: {message}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
