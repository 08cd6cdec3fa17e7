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

/// Issue 20's shapeset defects. On the previous main a grid named `.svg`, `.gif` or `.txt`
/// failed with exit 1 and Rust debug output after the .npy files were written, and `.jpg`
/// silently wrote a JPEG; `/dev/stdout` failed ("format Unknown"); 10^8 images (410 GB)
/// started writing with no free-space check. Now: a grid that is not a PNG, and a set past
/// the free space, are one line, exit 2, and nothing left in the folder; a device takes
/// the PNG. Catches dropping the name check, the space check, or the in-memory encoder.
#[test]
fn outputs_are_refused_before_anything_is_written_and_devices_take_the_png() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s.npy");
    let o = out.to_str().unwrap();
    for (extra, needle) in [
        (vec!["--png", "grid.svg"], "grid.svg"),
        (vec!["--png", "grid.jpg"], "grid.jpg"),
        (vec!["--png", "grid.txt"], "grid.txt"),
    ] {
        let mut args = vec!["shapeset", "--count", "10", "--out", o];
        args.extend(extra);
        let r = gpuinit(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle) && err.contains(".png"), "{err}");
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
    // 2^40 images, 4.5 PB: past any file system.
    let r = gpuinit(&["shapeset", "--count", "1099511627776", "--out", o]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("free"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // A PNG to standard output through /dev/stdout, the images to a file.
    let r = gpuinit(&[
        "shapeset",
        "--count",
        "40",
        "--out",
        o,
        "--png",
        "/dev/stdout",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        r.stdout.starts_with(b"\x89PNG\r\n\x1a\n"),
        "no PNG on stdout"
    );
    // /dev/full is written into, and fails as a write that ran out of room: exit 1.
    let r = gpuinit(&[
        "shapeset",
        "--count",
        "10",
        "--out",
        o,
        "--png",
        "/dev/full",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/full"), "{err}");
}
