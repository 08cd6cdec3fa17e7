//! Fault injection, for tests only: `GPUINIT_FAULT`, read once per process, makes the
//! writers fail (or pause) the way a file system or a user could, so the tests reach the
//! paths that an ordinary disk never takes. Unset (as in every real run) it changes
//! nothing. Values:
//!
//! - `odirect-open`: opening a file with `O_DIRECT` fails with `EINVAL`, as on a file
//!   system that refuses the flag ([`super::direct`] then writes through the page cache);
//! - `odirect-einval`: every write past the first block made while `O_DIRECT` is on fails
//!   with `EINVAL`, as on a file system that accepted the flag but not the write;
//! - `write-after:N`: a regular output's write that would take it past `N` bytes fails with
//!   `ENOSPC` (a full disk mid-file);
//! - `publish-pause:S`: a checkpoint's publication sleeps `S` seconds after renaming its
//!   first file (for an interrupt during publication).
//!
//! Anything else is ignored.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    DirectOpen,
    DirectEinval,
    WriteAfter(u64),
    PublishPause(u64),
}

impl Fault {
    fn parse(text: &str) -> Fault {
        let number = |prefix: &str| text.strip_prefix(prefix).and_then(|n| n.parse().ok());
        match text {
            "odirect-open" => Fault::DirectOpen,
            "odirect-einval" => Fault::DirectEinval,
            _ => number("write-after:")
                .map(Fault::WriteAfter)
                .or_else(|| number("publish-pause:").map(Fault::PublishPause))
                .unwrap_or_default(),
        }
    }
}

/// The fault this process injects (`GPUINIT_FAULT`), [`Fault::None`] when unset.
pub fn fault() -> Fault {
    static FAULT: OnceLock<Fault> = OnceLock::new();
    *FAULT.get_or_init(|| std::env::var("GPUINIT_FAULT").map_or(Fault::None, |v| Fault::parse(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(Fault::parse("odirect-open"), Fault::DirectOpen);
        assert_eq!(Fault::parse("odirect-einval"), Fault::DirectEinval);
        assert_eq!(Fault::parse("write-after:12"), Fault::WriteAfter(12));
        assert_eq!(Fault::parse("publish-pause:3"), Fault::PublishPause(3));
        assert_eq!(Fault::parse("write-after:x"), Fault::None);
    }
}
