//! One error type for the library and the command line.

use std::time::Duration;

/// Everything that can go wrong, split by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller asked for something invalid: a bad scheme, shape, value or path.
    #[error("{0}")]
    InvalidInput(String),
    /// No adapter matched, or none exists.
    #[error("{0}")]
    NoAdapter(String),
    /// The GPU reported an error (validation, device lost, out of memory).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A submission did not complete in time.
    #[error("the GPU did not finish within {0:?}; the device may be hung (raise GPUINIT_GPU_TIMEOUT_S if it is only slow)")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Writing to `what` (a path, standard output) failed during the run.
    #[error("cannot write {what}: {source}")]
    Write {
        what: String,
        source: std::io::Error,
    },
    /// Training diverged: the loss became NaN or infinite (the message says when).
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A verification ran and some of its checks failed (the report says which).
    #[error("{0} checks failed")]
    ChecksFailed(usize),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// An error writing to `what`.
    pub fn write(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Write {
            what: what.into(),
            source,
        }
    }

    /// Whether this is a reader that stopped early (`| head`): not a failure.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Error::Io(e) | Error::Write { source: e, .. } if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Process exit code: 2 for what the user can fix in the command, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidInput(_) | Error::NoAdapter(_) => 2,
            Error::Gpu(_)
            | Error::Timeout(_)
            | Error::Io(_)
            | Error::Write { .. }
            | Error::Diverged(_)
            | Error::ChecksFailed(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
