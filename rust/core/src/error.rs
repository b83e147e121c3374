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
    /// A kernel that reads its input more than once found the reads disagree: another thread
    /// wrote to the array during the call. Each pass checks what it can of the last one's
    /// counts, so this is reported instead of a panic or a mixture of two inputs' results.
    /// `argument` is set by the caller that knows the input's name (`Error::naming`).
    Changed { argument: Option<String> },
}

impl Error {
    pub fn invalid(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument: argument.into(),
            message: message.into(),
        }
    }

    /// `Error::Changed` of an input the kernel does not know the name of.
    pub fn changed() -> Self {
        Error::Changed { argument: None }
    }

    /// Names the input of an unnamed `Error::Changed`; any other error is returned as it is.
    pub fn naming(self, argument: &str) -> Self {
        match self {
            Error::Changed { argument: None } => Error::Changed {
                argument: Some(argument.to_string()),
            },
            other => other,
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
            Error::Changed { argument } => write!(
                f,
                "{}: its values changed while undertow was reading them (did another thread \
                 write to the array during the call?); pass a copy, or let the writes finish first",
                argument.as_deref().unwrap_or("input")
            ),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
