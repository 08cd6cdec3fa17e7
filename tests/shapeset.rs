//! `gpuinit shapeset`: images and labels as .npy that NumPy reads, the same as the library
//! draws; bad ranges and names are one line and exit 2.

mod common;

use common::gpuinit;

fn npy_body(bytes: &[u8]) -> (&str, &[u8]) {
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    (header, &bytes[10 + len..])
}

#[test]
fn images_and_labels_are_what_the_library_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("test.npy");
    let png = tmp.path().join("grid.png");
    let (o, p) = (out.to_str().unwrap(), png.to_str().unwrap());
    let r = gpuinit(&[
        "shapeset", "--count", "300", "--out", o, "--set", "test", "--first", "5", "--seed", "3",
        "--png", p,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (pixels, labels) =
        gpuinit::shapeset::batch(3, gpuinit::shapeset::TEST_START + 5, 300).unwrap();
    let images = std::fs::read(&out).unwrap();
    let (header, body) = npy_body(&images);
    assert!(
        header.contains("'descr': '<f4'") && header.contains("(300, 32, 32)"),
        "{header}"
    );
    let got: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, pixels);
    let label_file = std::fs::read(tmp.path().join("test.labels.npy")).unwrap();
    let (header, body) = npy_body(&label_file);
    assert!(
        header.contains("'descr': '|u1'") && header.contains("(300,)"),
        "{header}"
    );
    assert_eq!(body, &labels[..]);
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
}

#[test]
fn bad_ranges_and_names_are_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("x.npy");
    let o = o.to_str().unwrap();
    let bin = tmp.path().join("x.bin");
    for (args, needle) in [
        (vec!["--count", "0", "--out", o], "--count 0"),
        (
            vec!["--count", "2", "--out", o, "--first", "72057594037927935"],
            "--first",
        ),
        (
            vec!["--count", "2", "--out", bin.to_str().unwrap()],
            "--labels",
        ),
        (
            vec!["--count", "2", "--out", o, "--labels", o],
            "name the same file",
        ),
        (
            vec!["--count", "2", "--out", o, "--set", "holdout"],
            "holdout",
        ),
    ] {
        let r = gpuinit(&[&["shapeset"][..], &args].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
