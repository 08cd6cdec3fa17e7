//! Positions in the stream, named: a value is element `first + i` of `stream` under `seed`,
//! and the fields have names so that a swapped seed and stream cannot compile unnoticed.

use crate::error::{Error, Result};

/// A tensor's place in the stream: its elements are elements 0, 1, ... of `stream` under
/// `seed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub seed: u64,
    pub stream: u64,
}

impl StreamKey {
    /// Element `first` of this stream.
    pub fn at(self, first: u64) -> Start {
        Start {
            seed: self.seed,
            stream: self.stream,
            first,
        }
    }
}

/// Where a slice of the stream starts: element `first` of `stream` under `seed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Start {
    pub seed: u64,
    pub stream: u64,
    pub first: u64,
}

/// A slice of the stream: elements `first .. first + count` of `stream` under `seed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub seed: u64,
    pub stream: u64,
    pub first: u64,
    pub count: u64,
}

impl Span {
    /// The first `count` elements of `stream` under `seed`: a whole tensor.
    pub fn whole(seed: u64, stream: u64, count: u64) -> Span {
        Span {
            seed,
            stream,
            first: 0,
            count,
        }
    }

    /// Where the slice starts.
    pub fn start(&self) -> Start {
        Start {
            seed: self.seed,
            stream: self.stream,
            first: self.first,
        }
    }

    /// Elements `first + at .. first + at + count`: a part of this slice.
    pub fn part(&self, at: u64, count: u64) -> Span {
        Span {
            first: self.first + at,
            count,
            ..*self
        }
    }

    /// Refuses a slice that runs past the end of the stream ([`check_range`]).
    pub fn check(&self) -> Result<()> {
        check_range(self.first, self.count)
    }
}

impl Start {
    /// `count` elements from here.
    pub fn span(self, count: u64) -> Span {
        Span {
            seed: self.seed,
            stream: self.stream,
            first: self.first,
            count,
        }
    }

    /// `at` elements further on.
    pub fn advance(self, at: u64) -> Start {
        Start {
            first: self.first + at,
            ..self
        }
    }
}

/// A slice `first .. first + count` must end at or before 2^64, the end of the index space
/// (`first + count = 2^64` reaches the last element).
pub fn check_range(first: u64, count: u64) -> Result<()> {
    if u128::from(first) + u128::from(count) <= 1 << 64 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "offset {first} + count {count} runs past the end of the 2^64-element stream"
        )))
    }
}

/// The stream of layer `l` (0-based) of a network whose first layer takes stream `base`:
/// consecutive layers take consecutive streams of the network's seed. `propagate` numbers
/// its layers from 1 and starts at stream 1, `train` at stream 0 (docs/STREAM.md).
pub fn layer_stream(base: u64, l: usize) -> u64 {
    base + l as u64
}
