//! Blocks of a tensor: the values of a rectangle of rows and columns of a tensor whose
//! global shape is given, generated into the caller's slice, so that each rank of a sharded
//! model (a tensor-parallel shard, a pipeline stage, a Python binding filling its own part)
//! makes exactly its own weights, the same values the whole tensor would have there.
//!
//! A tensor of shape `[d0, d1, ..., dk]` is seen as the row-major matrix
//! `[d0, d1 * ... * dk]` ([`Matrix::of_shape`]): element `(i, j)` of the matrix is element
//! `i * cols + j` of the (seed, stream) stream, as in the whole tensor's contiguous values.
//! A shape `[n]` is the column `[n, 1]`; a scalar `[]` is `[1, 1]`. Sharding along the first
//! dimension is a row range, along the flattened rest a column range ([`Block`]).
//!
//! Everything is written once here over [`Generator::fill_values`], so the GPU and the CPU
//! reference (and any later device) give blocks alike. No temporary memory is used: each
//! row segment of the block (or, when the block spans whole rows and is written
//! contiguously, the whole run) is generated straight into `out`, in pieces of at most
//! [`Generator::chunk`] elements.

use std::ops::Range;

use super::generator::Generator;
use crate::error::{Error, Result};
use crate::rng::{Sampler, StreamKey};

/// A tensor's global shape as a row-major matrix of `rows x cols` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub rows: u64,
    pub cols: u64,
}

/// A rectangle of a [`Matrix`]: rows `rows` and columns `cols` (half-open ranges). Either
/// range may be empty; the block then has no elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub rows: Range<u64>,
    pub cols: Range<u64>,
}

impl Matrix {
    /// A `rows x cols` matrix. Its elements are stream indices `0 .. rows * cols`, which
    /// must fit in the 2^64-element stream.
    pub fn new(rows: u64, cols: u64) -> Result<Matrix> {
        if u128::from(rows) * u128::from(cols) > 1 << 64 {
            return Err(Error::invalid(format!(
                "a {rows} x {cols} tensor has more than the 2^64 elements of a stream"
            )));
        }
        Ok(Matrix { rows, cols })
    }

    /// The matrix of a tensor of global shape `shape`: `[shape[0], product of the rest]`;
    /// `[n]` is `[n, 1]` and `[]` is `[1, 1]`.
    pub fn of_shape(shape: &[u64]) -> Result<Matrix> {
        let Some((&rows, rest)) = shape.split_first() else {
            return Ok(Matrix { rows: 1, cols: 1 });
        };
        let cols = rest.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        match cols {
            // A zero dimension anywhere makes an empty tensor, whatever the others are.
            _ if shape.contains(&0) => Ok(Matrix {
                rows,
                cols: cols.unwrap_or(0),
            }),
            Some(cols) => Matrix::new(rows, cols),
            None => Err(Error::invalid(format!(
                "shape {shape:?} has more than the 2^64 elements of a stream"
            ))),
        }
    }

    /// Elements of the whole tensor (up to 2^64).
    pub fn len(&self) -> u128 {
        u128::from(self.rows) * u128::from(self.cols)
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole tensor as one block.
    pub fn whole(&self) -> Block {
        Block::new(0..self.rows, 0..self.cols)
    }

    /// Whole rows `rows` (a shard along the first dimension).
    pub fn row_block(&self, rows: Range<u64>) -> Block {
        Block::new(rows, 0..self.cols)
    }

    /// Columns `cols` of every row (a shard along the flattened trailing dimensions).
    pub fn col_block(&self, cols: Range<u64>) -> Block {
        Block::new(0..self.rows, cols)
    }

    /// An error unless `block` lies inside this matrix (empty ranges included: their start
    /// must still be inside), and the matrix inside the stream (its fields are public, so
    /// it may not have come from [`Matrix::new`]).
    pub fn check(&self, block: &Block) -> Result<()> {
        Matrix::new(self.rows, self.cols)?;
        let inside = |what: &str, r: &Range<u64>, n: u64| {
            if r.start > r.end {
                Err(Error::invalid(format!(
                    "block {what} {}..{} run backwards",
                    r.start, r.end
                )))
            } else if r.end > n {
                Err(Error::invalid(format!(
                    "block {what} {}..{} run past the tensor's {n} {what}",
                    r.start, r.end
                )))
            } else {
                Ok(())
            }
        };
        inside("rows", &block.rows, self.rows)?;
        inside("columns", &block.cols, self.cols)
    }
}

impl Block {
    pub fn new(rows: Range<u64>, cols: Range<u64>) -> Block {
        Block { rows, cols }
    }

    /// Rows in the block (0 when the range runs backwards).
    pub fn n_rows(&self) -> u64 {
        self.rows.end.saturating_sub(self.rows.start)
    }

    /// Columns in the block (0 when the range runs backwards).
    pub fn n_cols(&self) -> u64 {
        self.cols.end.saturating_sub(self.cols.start)
    }

    /// Elements in the block.
    pub fn len(&self) -> u128 {
        u128::from(self.n_rows()) * u128::from(self.n_cols())
    }

    /// Whether the block has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values of `block` of a tensor whose global shape is `matrix`, under `sampler`, from the
/// stream `key`, into `out` in the block's row-major order, contiguously: block
/// element `(i, j)` (tensor element `(rows.start + i, cols.start + j)`) goes to
/// `out[i * block.n_cols() + j]`. `out` must hold at least the block's elements; any beyond
/// are left as they are.
///
/// ```
/// use gpuinit::block::{fill_block, Matrix};
/// use gpuinit::rng::StreamKey;
/// use gpuinit::{cpu, CpuReference, Fans, Layout, Scheme, SchemeOptions};
///
/// # fn main() -> gpuinit::Result<()> {
/// // A [4096, 1024] weight split over 4 ranks by columns: rank 2 holds columns 512..768.
/// let shape = [4096, 1024];
/// let scheme = Scheme::parse("xavier_uniform", &SchemeOptions::default())?;
/// let sampler = scheme.distribution(Fans::from_shape(&shape, Layout::Torch)?)?.sampler();
/// let matrix = Matrix::of_shape(&shape)?;
/// let block = matrix.col_block(512..768);
/// let mut shard = vec![0.0f32; 4096 * 256];
/// let key = StreamKey { seed: 42, stream: 0 };
/// // `CpuReference` here; a `GpuContext` gives the same values.
/// fill_block(&CpuReference, &sampler, key, matrix, &block, &mut shard)?;
///
/// // The whole tensor's values, restricted to the shard.
/// let whole = cpu::generate_vec(&sampler, 42, 0, 0, 4096 * 1024);
/// for (i, row) in shard.chunks(256).enumerate() {
///     assert_eq!(row, &whole[i * 1024 + 512..i * 1024 + 768]);
/// }
/// // A block must lie inside the tensor, and `out` must be large enough.
/// assert!(fill_block(&CpuReference, &sampler, key, matrix, &matrix.col_block(1000..1025), &mut shard).is_err());
/// assert!(fill_block(&CpuReference, &sampler, key, matrix, &matrix.whole(), &mut shard).is_err());
/// # Ok(())
/// # }
/// ```
pub fn fill_block(
    generator: &(impl Generator + ?Sized),
    sampler: &Sampler,
    key: StreamKey,
    matrix: Matrix,
    block: &Block,
    out: &mut [f32],
) -> Result<()> {
    let stride = usize::try_from(block.n_cols()).map_err(|_| {
        Error::invalid(format!(
            "block columns {}..{} do not fit in host memory",
            block.cols.start, block.cols.end
        ))
    })?;
    fill_block_strided(generator, sampler, key, matrix, block, out, stride)
}

/// As [`fill_block`], with block row `i` starting at `out[i * row_stride]` (a block written
/// into a wider buffer, e.g. a rank's slice of a larger host array). `row_stride` must be at
/// least the block's columns; the elements between rows are left as they are.
pub fn fill_block_strided(
    generator: &(impl Generator + ?Sized),
    sampler: &Sampler,
    key: StreamKey,
    matrix: Matrix,
    block: &Block,
    out: &mut [f32],
    row_stride: usize,
) -> Result<()> {
    matrix.check(block)?;
    // `matrix.check` passed: neither range runs backwards, and each ends inside the matrix.
    let (n_rows, n_cols) = (block.n_rows(), block.n_cols());
    if n_rows == 0 || n_cols == 0 {
        return Ok(());
    }
    if (row_stride as u128) < u128::from(n_cols) {
        return Err(Error::invalid(format!(
            "row stride {row_stride} is less than the block's {n_cols} columns"
        )));
    }
    let needed = (u128::from(n_rows) - 1) * row_stride as u128 + u128::from(n_cols);
    if needed > out.len() as u128 {
        return Err(Error::invalid(format!(
            "a {n_rows} x {n_cols} block with row stride {row_stride} needs {needed} elements; \
             the output holds {}",
            out.len()
        )));
    }
    // From here every count and offset into `out` is at most `needed <= out.len()`, a usize;
    // every stream index is below `matrix.rows * matrix.cols <= 2^64`.
    let (n_rows, n_cols) = (n_rows as usize, n_cols as usize);
    let piece = usize::try_from(generator.chunk().max(1)).unwrap_or(usize::MAX);
    let run = |first: u64, out: &mut [f32]| -> Result<()> {
        for (k, part) in out.chunks_mut(piece).enumerate() {
            // Below the block's last index, so below 2^64 (`at + part.len()` may be 2^64).
            let at = first + (k * piece) as u64;
            generator.fill_values(sampler, key.at(at), part)?;
        }
        Ok(())
    };
    let start_of = |row: u64| row * matrix.cols + block.cols.start;
    if n_cols as u64 == matrix.cols && row_stride == n_cols {
        // Whole rows, contiguous: one run of the stream.
        run(start_of(block.rows.start), &mut out[..n_rows * n_cols])
    } else {
        for (i, row) in block.rows.clone().enumerate() {
            let at = i * row_stride;
            run(start_of(row), &mut out[at..at + n_cols])?;
        }
        Ok(())
    }
}

/// The values of `block` as a new vector, in the block's row-major order.
pub fn block_values(
    generator: &(impl Generator + ?Sized),
    sampler: &Sampler,
    key: StreamKey,
    matrix: Matrix,
    block: &Block,
) -> Result<Vec<f32>> {
    matrix.check(block)?;
    let len = usize::try_from(block.len()).map_err(|_| {
        Error::invalid(format!(
            "a {} x {} block does not fit in host memory",
            block.n_rows(),
            block.n_cols()
        ))
    })?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| {
        Error::invalid(format!(
            "a {} x {} block ({len} values) does not fit in host memory",
            block.n_rows(),
            block.n_cols()
        ))
    })?;
    out.resize(len, 0.0);
    fill_block(generator, sampler, key, matrix, block, &mut out)?;
    Ok(out)
}
