//! Blocks of a tensor (`gpuinit::block`) against the CPU reference's contiguous values of the
//! whole tensor. Each test names the mutant of `src/block.rs` it catches.

use std::ops::Range;

use gpuinit::block::{block_values, fill_block, fill_block_strided, Block, Matrix};
use gpuinit::rng::tolerance::{ulps, MAX_ABS_PER_STD, MAX_ULPS};
use gpuinit::rng::{Start, StreamKey};
use gpuinit::{
    cpu, CpuReference, Error, Fans, Generator, GpuContext, GpuOptions, Sampler, Scheme,
    SchemeOptions,
};

const SEED: StreamKey = StreamKey { seed: 7, stream: 3 };

fn sampler(scheme: &str) -> Sampler {
    let scheme = Scheme::parse(scheme, &SchemeOptions::default()).unwrap();
    scheme
        .distribution(Fans::new(300, 200).unwrap())
        .unwrap()
        .sampler()
}

/// The CPU reference in fills of at most `chunk` elements: blocks must come out the same
/// whatever size a device fills at a time.
struct Chunked(u64);

impl Generator for Chunked {
    fn label(&self) -> String {
        format!("cpu in chunks of {}", self.0)
    }
    fn chunk(&self) -> u64 {
        self.0
    }
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> gpuinit::Result<Vec<[u32; 4]>> {
        CpuReference.philox(inputs)
    }
    fn fill_words(&self, at: Start, out: &mut [u32]) -> gpuinit::Result<()> {
        assert!(out.len() as u64 <= self.0, "a fill larger than the chunk");
        CpuReference.fill_words(at, out)
    }
    fn fill_values(&self, s: &Sampler, at: Start, out: &mut [f32]) -> gpuinit::Result<()> {
        assert!(out.len() as u64 <= self.0, "a fill larger than the chunk");
        CpuReference.fill_values(s, at, out)
    }
}

/// What `block` of the `rows x cols` tensor must be: the whole tensor's contiguous values,
/// restricted to the block, in its row-major order.
fn expected(s: &Sampler, rows: u64, cols: u64, block: &Block) -> Vec<f32> {
    let whole = cpu::generate_vec(s, SEED.seed, SEED.stream, 0, (rows * cols) as usize);
    let mut want = Vec::new();
    for r in block.rows.clone() {
        let at = (r * cols) as usize;
        want.extend_from_slice(
            &whole[at + block.cols.start as usize..at + block.cols.end as usize],
        );
    }
    want
}

/// Every generator the CPU tests run: the reference, and the reference in odd chunks.
fn generators() -> Vec<Box<dyn Generator>> {
    vec![
        Box::new(CpuReference),
        Box::new(Chunked(7)),
        Box::new(Chunked(1)),
    ]
}

fn check(rows: u64, cols: u64, block: Block) {
    for scheme in ["xavier_uniform", "xavier_normal"] {
        let s = sampler(scheme);
        let want = expected(&s, rows, cols, &block);
        let m = Matrix::new(rows, cols).unwrap();
        for g in generators() {
            let got = block_values(g.as_ref(), &s, SEED, m, &block).unwrap();
            assert_eq!(
                got,
                want,
                "{}: {scheme}: {rows}x{cols} {block:?}",
                g.label()
            );
        }
    }
}

// Catches: the first element of a row shard taken as `rows.start` (or `rows.start *
// cols.len()`) instead of `rows.start * cols`; the contiguous path taken when the block is
// not whole rows; a chunk's offset not advancing (`Chunked`).
#[test]
fn row_shards_are_the_whole_tensors_rows() {
    let (rows, cols) = (37, 23);
    let m = Matrix::new(rows, cols).unwrap();
    for r in [0..37, 0..1, 5..17, 36..37, 20..37] {
        check(rows, cols, m.row_block(r));
    }
}

// Catches: the row and column strides swapped (`c * rows + r`); off-by-one on the column
// start (`cols.start + 1`, `cols.start - 1`); the output row offset taken as the tensor's
// `cols` instead of the block's.
#[test]
fn column_shards_are_the_whole_tensors_columns() {
    let (rows, cols) = (29, 41);
    let m = Matrix::new(rows, cols).unwrap();
    for c in [0..41, 0..1, 40..41, 10..20, 1..41, 0..40] {
        check(rows, cols, m.col_block(c));
    }
}

// Catches: the block's row start ignored (rows counted from 0) or its column start ignored;
// the per-row loop running one row short or long.
#[test]
fn two_dimensional_blocks() {
    let (rows, cols) = (31, 19);
    for (r, c) in [
        (3..9, 4..11),
        (0..31, 18..19),
        (30..31, 0..19),
        (7..8, 5..6),
        (12..30, 1..18),
    ] {
        check(rows, cols, Block::new(r, c));
    }
}

// Catches: writing a row's segment at `i * n_cols` instead of `i * row_stride`; writing
// past the segment into the gap between rows (the sentinels must survive); the whole-rows
// shortcut taken when the stride leaves gaps.
#[test]
fn strided_output_leaves_the_gaps_alone() {
    let (rows, cols) = (13, 10);
    let s = sampler("xavier_uniform");
    let m = Matrix::new(rows, cols).unwrap();
    for (block, stride) in [
        (Block::new(2..9, 3..7), 6),
        (Block::new(2..9, 3..7), 4),
        (m.row_block(4..8), 15), // whole rows, but not contiguous
        (m.col_block(9..10), 3),
    ] {
        let want = expected(&s, rows, cols, &block);
        let (n, w) = (block.n_rows() as usize, block.n_cols() as usize);
        for g in generators() {
            let mut out = vec![f32::NAN; (n - 1) * stride + w + 5];
            fill_block_strided(g.as_ref(), &s, SEED, m, &block, &mut out, stride).unwrap();
            let mut in_block = vec![false; out.len()];
            for i in 0..n {
                let row = &out[i * stride..i * stride + w];
                assert_eq!(
                    row,
                    &want[i * w..(i + 1) * w],
                    "{block:?} stride {stride} row {i}"
                );
                in_block[i * stride..i * stride + w].fill(true);
            }
            for (k, x) in out.iter().enumerate() {
                assert!(
                    in_block[k] || x.is_nan(),
                    "{}: {block:?} stride {stride}: wrote out[{k}], outside the block",
                    g.label()
                );
            }
        }
    }
}

// Catches: an empty block treated as one element (a range's end taken inclusively); an
// empty block that still calls the generator (the panicking generator below); its start
// not validated.
#[test]
fn empty_blocks_write_nothing() {
    struct Refuses;
    impl Generator for Refuses {
        fn label(&self) -> String {
            "refuses".into()
        }
        fn chunk(&self) -> u64 {
            1
        }
        fn philox(&self, _: &[([u32; 4], [u32; 2])]) -> gpuinit::Result<Vec<[u32; 4]>> {
            panic!("called")
        }
        fn fill_words(&self, _: Start, _: &mut [u32]) -> gpuinit::Result<()> {
            panic!("called")
        }
        fn fill_values(&self, _: &Sampler, _: Start, _: &mut [f32]) -> gpuinit::Result<()> {
            panic!("called for an empty block")
        }
    }
    let s = sampler("xavier_uniform");
    let m = Matrix::new(8, 6).unwrap();
    for block in [
        Block::new(3..3, 0..6),
        Block::new(0..8, 6..6),
        Block::new(8..8, 6..6),
        Block::new(0..0, 0..0),
    ] {
        let mut out: Vec<f32> = vec![];
        fill_block(&Refuses, &s, SEED, m, &block, &mut out).unwrap();
        assert_eq!(
            block_values(&Refuses, &s, SEED, m, &block).unwrap(),
            Vec::<f32>::new()
        );
        let mut out = vec![1.5f32; 3];
        fill_block_strided(&Refuses, &s, SEED, m, &block, &mut out, 0).unwrap();
        assert_eq!(out, [1.5; 3]);
    }
    // An empty tensor has only empty blocks.
    let empty = Matrix::of_shape(&[0, 5]).unwrap();
    assert_eq!(empty, Matrix { rows: 0, cols: 5 });
    fill_block(&Refuses, &s, SEED, empty, &empty.whole(), &mut []).unwrap();
    // An empty range must still start inside the tensor.
    let e = fill_block(&Refuses, &s, SEED, m, &Block::new(9..9, 0..1), &mut []).unwrap_err();
    assert!(e.to_string().contains("9..9"), "{e}");
}

// Catches: the shape's matrix taken as [prod(shape[..k]), shape[k]] (columns = the last
// dimension only), or a 1-D shape taken as a row; a 1-row or 1-column tensor mishandled.
#[test]
fn one_row_and_one_column_tensors() {
    assert_eq!(
        Matrix::of_shape(&[4, 3, 5]).unwrap(),
        Matrix { rows: 4, cols: 15 }
    );
    assert_eq!(Matrix::of_shape(&[9]).unwrap(), Matrix { rows: 9, cols: 1 });
    assert_eq!(Matrix::of_shape(&[]).unwrap(), Matrix { rows: 1, cols: 1 });
    let row = Matrix::of_shape(&[1, 50]).unwrap();
    for c in [0..50, 0..1, 49..50, 13..31] {
        check(1, 50, row.col_block(c));
    }
    let col = Matrix::of_shape(&[50]).unwrap();
    for r in [0..50, 0..1, 49..50, 13..31] {
        check(50, 1, col.row_block(r));
    }
}

// Catches: stream indices computed in u32 (or `row as u32 * cols`); rows counted from the
// block, not the tensor. Only the block is generated: the tensor has 3 * 2^33 elements.
#[test]
fn offsets_past_two_to_the_32() {
    let (rows, cols) = ((1u64 << 33) + 5, 3);
    let m = Matrix::of_shape(&[rows, cols]).unwrap();
    for scheme in ["xavier_uniform", "kaiming_normal"] {
        let s = sampler(scheme);
        for block in [
            Block::new((1 << 32) - 2..(1 << 32) + 3, 1..3),
            Block::new(rows - 4..rows, 0..3),
            Block::new((1 << 33) / 3..(1 << 33) / 3 + 2, 2..3),
        ] {
            let first = block.rows.start * cols;
            let count = block.n_rows() * cols;
            let covering = cpu::generate_vec(&s, SEED.seed, SEED.stream, first, count as usize);
            let mut want = Vec::new();
            for i in 0..block.n_rows() as usize {
                let at = i * cols as usize;
                want.extend_from_slice(
                    &covering[at + block.cols.start as usize..at + block.cols.end as usize],
                );
            }
            for g in generators() {
                let got = block_values(g.as_ref(), &s, SEED, m, &block).unwrap();
                assert_eq!(got, want, "{}: {scheme}: {block:?}", g.label());
            }
        }
    }
    // The very end of the largest stream: a 2^32 x 2^32 tensor's last element is index
    // 2^64 - 1 (a chunk offset that reaches 2^64 would overflow).
    let m = Matrix::new(1 << 32, 1 << 32).unwrap();
    let s = sampler("xavier_uniform");
    let last = (1u64 << 32) - 1;
    let block = Block::new(last - 1..last + 1, last - 2..last + 1);
    let got = block_values(&Chunked(2), &s, SEED, m, &block).unwrap();
    let a = cpu::generate_vec(&s, SEED.seed, SEED.stream, u64::MAX - (1 << 32) - 2, 3);
    let b = cpu::generate_vec(&s, SEED.seed, SEED.stream, u64::MAX - 2, 3);
    assert_eq!(got, [a, b].concat());
}

fn invalid(r: gpuinit::Result<()>) -> String {
    match r {
        Err(Error::InvalidInput(msg)) => msg,
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

// Catches: a missing bound check (rows or columns past the shape, a backwards range, an
// output too short by one, a stride below the block's width, a shape past 2^64 elements)
// which would panic on a slice index or wrap an index instead of naming the value.
#[test]
fn invalid_blocks_are_refused_naming_the_value() {
    let s = sampler("xavier_uniform");
    let g = CpuReference;
    let m = Matrix::new(10, 8).unwrap();
    let mut out = vec![0.0f32; 80];
    let cases: [(Block, usize, usize, &str); 6] = [
        (Block::new(0..11, 0..8), 80, 8, "0..11"),
        (Block::new(0..10, 2..9), 80, 8, "2..9"),
        (Block::new(Range { start: 5, end: 4 }, 0..8), 80, 8, "5..4"),
        (Block::new(2..5, 1..4), 8, 3, "needs 9"),
        (Block::new(2..5, 1..4), 80, 2, "row stride 2"),
        (m.whole(), 79, 8, "needs 80"),
    ];
    for (block, len, stride, names) in cases {
        let msg = invalid(fill_block_strided(
            &g,
            &s,
            SEED,
            m,
            &block,
            &mut out[..len],
            stride,
        ));
        assert!(msg.contains(names), "{block:?}: {msg}");
    }
    // Exactly enough is enough: (rows - 1) * stride + columns.
    fill_block_strided(&g, &s, SEED, m, &Block::new(2..5, 1..4), &mut out[..9], 3).unwrap();
    let e = Matrix::of_shape(&[1 << 33, 1 << 31, 2]).unwrap_err();
    assert!(e.to_string().contains("8589934592"), "{e}");
    let e = Matrix::new(1 << 33, 1 << 32).unwrap_err();
    assert!(e.to_string().contains("8589934592 x 4294967296"), "{e}");
    // A matrix built by hand past the stream is refused too, not wrapped.
    let huge = Matrix {
        rows: u64::MAX,
        cols: 2,
    };
    let e = invalid(fill_block(
        &g,
        &s,
        SEED,
        huge,
        &Block::new(0..1, 0..1),
        &mut out,
    ));
    assert!(e.contains("18446744073709551615 x 2"), "{e}");
}

/// The GPU, when there is one: its blocks are the CPU reference's (bit-identical for
/// uniform, within the documented bound for normal). Skips without an adapter unless
/// GPUINIT_REQUIRE_GPU=1.
// Catches: a block path that only works for generators that accept any length (the GPU
// fills at most `chunk()` at a time) or any alignment of `first`.
#[test]
fn gpu_blocks_are_the_cpu_references() {
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let gpu = match GpuContext::new(&GpuOptions::default()) {
        Ok(gpu) => gpu,
        Err(e) if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
        Err(e) => {
            eprintln!("no GPU here, skipped: {e}");
            return;
        }
    };
    let m = Matrix::of_shape(&[301, 7, 13]).unwrap();
    for scheme in ["xavier_uniform", "xavier_normal", "truncated_normal"] {
        let s = sampler(scheme);
        for block in [
            m.whole(),
            m.row_block(100..201),
            m.col_block(5..50),
            Block::new(17..290, 1..90),
        ] {
            let got = block_values(&gpu, &s, SEED, m, &block).unwrap();
            let want = block_values(&CpuReference, &s, SEED, m, &block).unwrap();
            assert_eq!(got.len(), want.len());
            for (g, c) in got.iter().zip(&want) {
                let ok = if s.kind == gpuinit::rng::distribution::KIND_NORMAL {
                    ulps(*g, *c) <= MAX_ULPS
                        || f64::from((g - c).abs()) <= MAX_ABS_PER_STD * f64::from(s.scale)
                } else {
                    g.to_bits() == c.to_bits()
                };
                assert!(ok, "{scheme}: {block:?}: gpu {g} cpu {c}");
            }
        }
    }
}
