//! What the commands print: every write checked, so a closed pipe or a full disk behind
//! standard output is an error that names it, never a panic.

use std::io::Write;

use gpuinit::{Error, Result};

/// Text for standard output or standard error.
pub struct Say {
    stderr: bool,
}

impl Say {
    pub fn stdout() -> Say {
        Say { stderr: false }
    }

    pub fn stderr() -> Say {
        Say { stderr: true }
    }

    /// Writes `text` as it is, and flushes.
    pub fn text(&mut self, text: &str) -> Result<()> {
        let r = if self.stderr {
            let mut e = std::io::stderr().lock();
            e.write_all(text.as_bytes()).and_then(|_| e.flush())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        };
        let what = if self.stderr {
            "standard error"
        } else {
            "standard output"
        };
        r.map_err(|e| Error::write(what, e))
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<()> {
        self.text(&format!("{text}\n"))
    }
}

/// Prints `text` to standard output.
pub fn out(text: &str) -> Result<()> {
    Say::stdout().text(text)
}
