//! The checkpoint's parts without a device: dtype rounding at its edges, shard sizes and
//! the Hugging Face split, launchers' ranks, zero rows, and what a spec refuses.

use super::*;
use crate::rng::names::stream_of_name;

fn tensor(name: &str, shape: &[u64], scheme: &str) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape: shape.to_vec(),
        scheme: scheme.into(),
        layout: None,
        dtype: None,
        zero_rows: Vec::new(),
    }
}

fn spec(dtype: Dtype, tensors: Vec<TensorSpec>) -> ModelSpec {
    ModelSpec {
        source: None,
        dtype,
        tensors,
    }
}

/// `values` in `d`, little-endian.
fn encode(d: Dtype, values: &[f32]) -> Vec<u8> {
    let mut out = vec![0; values.len() * d.size() as usize];
    d.encode_into(values, &mut out);
    out
}

fn bits16(d: Dtype, v: f32) -> u16 {
    let b = encode(d, &[v]);
    u16::from_le_bytes([b[0], b[1]])
}

/// Round to nearest, ties to even, at the edges: halfway cases both ways, the largest
/// finite values, overflow, f16 subnormals and signed zero; decode inverts encode.
#[test]
fn dtypes_round_to_nearest_even_at_the_edges() {
    let bf = Dtype::Bf16;
    let one = 1.0f32;
    // bf16 keeps 8 significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
    assert_eq!(bits16(bf, one + 2f32.powi(-8)), 0x3F80, "tie to even, down");
    assert_eq!(
        bits16(bf, one + 3.0 * 2f32.powi(-8)),
        0x3F82,
        "tie to even, up"
    );
    assert_eq!(bits16(bf, one + 2f32.powi(-8) + 2f32.powi(-20)), 0x3F81);
    assert_eq!(bits16(bf, -0.0), 0x8000);
    let bf_max = bf.max_finite() as f32;
    assert_eq!(bits16(bf, bf_max), 0x7F7F);
    assert_eq!(
        bits16(bf, f32::MAX),
        0x7F80,
        "f32::MAX rounds to bf16 infinity"
    );
    assert_eq!(bits16(bf, f32::NAN) & 0x7FC0, 0x7FC0, "NaN stays NaN");
    let h = Dtype::F16;
    assert_eq!(bits16(h, 65504.0), 0x7BFF);
    assert_eq!(bits16(h, 65519.99), 0x7BFF);
    assert_eq!(
        bits16(h, 65520.0),
        0x7C00,
        "halfway past the largest is infinity"
    );
    assert_eq!(bits16(h, 2f32.powi(-24)), 0x0001, "smallest subnormal");
    assert_eq!(
        bits16(h, 2f32.powi(-25)),
        0x0000,
        "halfway to it: even is 0"
    );
    assert_eq!(
        bits16(h, 1.5 * 2f32.powi(-24)),
        0x0002,
        "halfway: even is 2"
    );
    assert_eq!(bits16(h, one + 2f32.powi(-11)), 0x3C00, "tie to even, down");
    for d in [Dtype::F32, bf, h] {
        let xs = [0.1f32, -3.25, 1e-3, 0.0, -0.0, 65504.0];
        let back = d.decode(&encode(d, &xs));
        let rounded: Vec<u32> = xs.iter().map(|&x| d.round(x).to_bits()).collect();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            rounded
        );
        assert_eq!(Dtype::from_safetensors(d.safetensors_name()), Some(d));
    }
}

/// A scheme whose values could round to infinity in the dtype is refused by name.
#[test]
fn values_past_the_dtype_are_refused() {
    let big = |v: &str, d| resolve(&spec(d, vec![tensor("w", &[4], v)]));
    assert!(big("constant:value=3.38e38", Dtype::Bf16).is_ok());
    let e = big("constant:value=3.39e38", Dtype::Bf16)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'w'") && e.contains("Bf16"), "{e}");
    assert!(big("uniform:low=-65504:high=65504", Dtype::F16).is_ok());
    assert!(big("uniform:low=0:high=65505", Dtype::F16).is_err());
    // The plain normal reaches 5.3 std: 5.3 x 12000 fits under 65504, 5.3 x 13000 does not.
    assert!(big("normal:std=12000", Dtype::F16).is_ok());
    assert!(big("normal:std=13000", Dtype::F16).is_err());
    assert!(big("normal:std=13000", Dtype::F32).is_ok());
}

#[test]
fn a_spec_refuses_what_it_cannot_write() {
    let refused = |ts: Vec<TensorSpec>| resolve(&spec(Dtype::F32, ts)).unwrap_err().to_string();
    let e = refused(vec![tensor("a", &[2], "ones"), tensor("a", &[3], "zeros")]);
    assert!(e.contains("'a' appears twice"), "{e}");
    let e = refused(vec![tensor("a", &[1 << 40, 1 << 23], "ones")]);
    assert!(e.contains("2^64"), "{e}");
    let e = refused(vec![tensor("", &[2], "ones")]);
    assert!(e.contains("empty name"), "{e}");
    let mut padded = tensor("emb", &[4, 2], "normal:std=0.02");
    padded.zero_rows = vec![4];
    let e = refused(vec![padded]);
    assert!(e.contains("zero row 4") && e.contains("4 rows"), "{e}");
    let e = refused(vec![tensor("w", &[8], "xavier_uniform")]);
    assert!(e.contains("'w'"), "{e}");
    assert!(ModelSpec::from_json(r#"{"tensors": [], "dtyp": "f32"}"#, "x").is_err());
}

/// Two names on one stream are refused, naming both; with FNV-1a 64 no such pair is
/// known, so a weaker hash (the name's length) makes one.
#[test]
fn colliding_streams_are_refused() {
    let two = spec(
        Dtype::F32,
        vec![tensor("w.0", &[2], "ones"), tensor("w.1", &[2], "ones")],
    );
    let planned = resolve(&two).unwrap();
    assert_eq!(planned[1].stream, stream_of_name("w.1"));
    let e = spec::resolve_by(&two, |n| n.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'w.0' and 'w.1' hash to the same stream"), "{e}");
}

#[test]
fn shard_sizes_parse_the_hugging_face_way() {
    assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
    assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
    assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
    assert_eq!(parse_size("40KB").unwrap(), 40_000);
    assert_eq!(parse_size("123").unwrap(), 123);
    // huggingface_hub's parse_size_to_int: any case, decimals, int(value * unit).
    assert_eq!(parse_size("5gb").unwrap(), 5_000_000_000);
    assert_eq!(parse_size("1.5MB").unwrap(), 1_500_000);
    assert_eq!(parse_size("0.5 kb").unwrap(), 500);
    assert_eq!(parse_size("1.1MB").unwrap(), 1_100_000);
    assert_eq!(parse_size("2gib").unwrap(), 2 << 30);
    assert_eq!(parse_size("1e3KB").unwrap(), 1_000_000);
    assert_eq!(parse_size("5 GB").unwrap(), 5_000_000_000);
    for bad in [
        "",
        "0GB",
        "0.0001KB",
        "-1",
        "GB",
        "99999999999TB",
        "1.2.3MB",
        ".MB",
        "5XB",
        "nanGB",
        "infGB",
        "-1.5MB",
        "5 XB",
    ] {
        let e = parse_size(bad).unwrap_err().to_string();
        assert!(e.contains(&format!("'{bad}'")), "{e}");
    }
}

/// The split: in order, a file closed when the next tensor would not fit, an oversized
/// tensor alone and at once (before the file being filled, as huggingface_hub's
/// `split_state_dict_into_shards_factory` appends it); data offsets contiguous; headers
/// 8-byte aligned; names as HF's.
#[test]
fn files_are_split_as_hugging_face_splits_them() {
    let ts: Vec<TensorSpec> = [3u64, 3, 5, 1, 10, 2]
        .iter()
        .enumerate()
        .map(|(i, &n)| tensor(&format!("t{i}"), &[n], "zeros"))
        .collect();
    let planned = resolve(&spec(Dtype::F32, ts)).unwrap();
    let meta = Metadata {
        version: "test",
        seed: 1,
        device: "cpu",
    };
    // Bytes: 12, 12, 20, 4, 40, 8; at most 24 a file.
    let files = plan(&planned, 24, &meta).unwrap();
    let groups: Vec<Vec<usize>> = files.iter().map(|f| f.tensors.clone()).collect();
    assert_eq!(groups, vec![vec![0, 1], vec![4], vec![2, 3], vec![5]]);
    assert_eq!(files[0].name, "model-00001-of-00004.safetensors");
    assert_eq!(files[3].name, "model-00004-of-00004.safetensors");
    for f in &files {
        let len = u64::from_le_bytes(f.header[..8].try_into().unwrap());
        assert_eq!(len % 8, 0);
        assert_eq!(f.header.len() as u64, 8 + len);
        let h: serde_json::Value = serde_json::from_slice(&f.header[8..]).unwrap();
        let mut at = 0;
        for &i in &f.tensors {
            let off = &h[&planned[i].name]["data_offsets"];
            assert_eq!(off[0].as_u64(), Some(at));
            at += planned[i].bytes;
            assert_eq!(off[1].as_u64(), Some(at));
        }
        assert_eq!(h["__metadata__"]["gpuinit.seed"], "1");
        assert_eq!(f.size, f.header.len() as u64 + at);
    }
    let one = plan(&planned, 1 << 20, &meta).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "model.safetensors");
    let idx: serde_json::Value = serde_json::from_str(&index(&planned, &files)).unwrap();
    assert_eq!(idx["metadata"]["total_size"], 96);
    assert_eq!(idx["weight_map"]["t4"], "model-00002-of-00004.safetensors");
}

#[test]
fn ranks_come_from_the_flag_or_the_launcher() {
    assert_eq!(Shard::parse("2/7").unwrap(), Shard { rank: 2, size: 7 });
    for bad in ["7/7", "0/0", "1", "a/2", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let slurm_first = env(&[
        ("RANK", "1"),
        ("WORLD_SIZE", "2"),
        ("SLURM_PROCID", "3"),
        ("SLURM_NTASKS", "4"),
    ]);
    assert_eq!(
        Shard::from_env(slurm_first).unwrap(),
        Shard { rank: 3, size: 4 }
    );
    let mpi = env(&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "3")]);
    assert_eq!(Shard::from_env(mpi).unwrap(), Shard { rank: 0, size: 3 });
    assert_eq!(Shard::from_env(env(&[])).unwrap(), Shard::ALONE);
    let e = Shard::from_env(env(&[("RANK", "4"), ("WORLD_SIZE", "4")])).unwrap_err();
    assert!(e.to_string().contains("RANK=4 WORLD_SIZE=4"), "{e}");
    // Half a pair is refused, not taken for a process alone.
    type Env = &'static [(&'static str, &'static str)];
    for (half, needle) in [
        (
            &[("RANK", "1")] as Env,
            "RANK=1 is set but WORLD_SIZE is not",
        ),
        (
            &[("WORLD_SIZE", "2")],
            "WORLD_SIZE=2 is set but RANK is not",
        ),
        (&[("SLURM_PROCID", "0")], "SLURM_NTASKS is not"),
        (
            &[("OMPI_COMM_WORLD_SIZE", "2")],
            "OMPI_COMM_WORLD_RANK is not",
        ),
    ] {
        let e = Shard::from_env(env(half)).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
    let s = Shard { rank: 1, size: 3 };
    let mine: Vec<usize> = (0..8).filter(|&k| s.writes(k)).collect();
    assert_eq!(mine, vec![1, 4, 7]);
    assert!(!s.writes_index());
}

/// Zero rows, as spans of any slice of the tensor.
#[test]
fn zero_spans_cover_exactly_the_zero_rows() {
    let mut t = tensor("emb", &[5, 3], "ones");
    t.zero_rows = vec![3, 1];
    let p = &resolve(&spec(Dtype::F32, vec![t])).unwrap()[0];
    assert_eq!(p.zero_rows, vec![1, 3]);
    let all: Vec<_> = zero_spans(p, 0, 15).collect();
    assert_eq!(all, vec![3..6, 9..12]);
    // Elements 4..11 of the tensor: row 1's last two, row 3's first two.
    let part: Vec<_> = zero_spans(p, 4, 7).collect();
    assert_eq!(part, vec![0..2, 5..7]);
    assert_eq!(zero_spans(p, 6, 3).count(), 0);
}
