//! The one error type of the core. The binding layer maps each variant to a Python exception once.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument has a bad value; `argument` names it so the user knows what to fix.
    InvalidArgument { argument: String, message: String },
    /// Serialized state bytes that cannot be trusted (truncated, corrupted, foreign, wrong version).
    InvalidState(String),
    /// An allocation sized by the arguments would not fit: `bytes` needed for `what`, above
    /// `limit` (the memory ceiling, see `alloc`) or refused by the allocator (`limit` None).
    OutOfMemory {
        what: String,
        bytes: u128,
        limit: Option<u128>,
    },
    /// The caller asked the kernel to stop (Ctrl-C); see `cancel`.
    Cancelled,
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
            Error::OutOfMemory { what, bytes, limit } => {
                let gb = |b: u128| b as f64 / 1e9;
                write!(f, "{what} needs {bytes} bytes ({:.1} GB)", gb(*bytes))?;
                match limit {
                    Some(l) => write!(
                        f,
                        ", more than the {l} bytes ({:.1} GB) of memory available \
                         (MemAvailable; set UNDERTOW_MEMORY_LIMIT in bytes to change the ceiling)",
                        gb(*l)
                    ),
                    None => write!(f, ", which the allocator refused"),
                }
            }
            Error::Cancelled => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
