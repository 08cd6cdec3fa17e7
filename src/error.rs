//! One error type for the library and the command line.

use std::time::Duration;

/// Everything that can go wrong, split by who can fix it.
///
/// The `gpuinit` binary prints `error: ` and the message on standard error and exits with
/// [`Error::exit_code`]: 2 for what the user can fix in the command ([`InvalidInput`],
/// [`NoAdapter`]), 1 for everything else; a reader that closes the pipe early (`| head`,
/// [`Error::is_closed_pipe`]) is no error and exits 0. (Arguments the parser rejects exit 2
/// before any `Error` exists; a SIGINT or SIGTERM exits 128 + the signal.)
///
/// Marked `#[non_exhaustive]`: a binding or caller outside this crate matches with a
/// wildcard arm, so that a later kind of failure is not a breaking change.
///
/// [`InvalidInput`]: Error::InvalidInput
/// [`NoAdapter`]: Error::NoAdapter
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller asked for something invalid: a bad scheme, shape, value, range, path or
    /// option, refused before any work; the message names the value. Exit code 2.
    #[error("{0}")]
    InvalidInput(String),
    /// No adapter matched the requested adapter or backend, or none exists at all (the
    /// message lists what was found). `--device auto` falls back to the CPU reference on
    /// this error alone, and only when nothing was named. Exit code 2.
    #[error("{0}")]
    NoAdapter(String),
    /// The GPU reported an error (validation, device lost, out of memory), or its results
    /// disagreed with the CPU reference beyond the documented tolerance, or an internal
    /// check of a GPU run failed. Exit code 1.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A submission did not complete within the bounded wait (`--gpu-timeout`,
    /// `GPUINIT_GPU_TIMEOUT_S`): the
    /// device may be hung. Exit code 1.
    #[error("the GPU did not finish within {0:?}; the device may be hung (raise GPUINIT_GPU_TIMEOUT_S if it is only slow)")]
    Timeout(Duration),
    /// Any other I/O error: opening or reading a file (a spec, a checkpoint), creating an
    /// output. A broken pipe here is [`Error::is_closed_pipe`]. Exit code 1.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Writing to `what` (a path, standard output) failed during the run. A broken pipe
    /// here is [`Error::is_closed_pipe`]. Exit code 1.
    #[error("cannot write {what}: {source}")]
    Write {
        /// What was being written: a path, or standard output.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Training diverged: the loss became NaN or infinite (the message says when). Exit
    /// code 1.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A verification ran to the end and this many of its checks failed (the report,
    /// already written, says which). Exit code 1.
    #[error("{0} checks failed")]
    ChecksFailed(usize),
}

impl Error {
    /// An [`Error::InvalidInput`] with this message.
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
