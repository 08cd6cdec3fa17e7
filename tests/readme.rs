//! The README's examples stay true: every ```text block that starts with `$ gpuinit ...` is
//! run, and each line it shows must appear in the output. Runs of spaces count as one
//! (column padding is shortened there); `...`, timings and lines naming an adapter this
//! machine does not have are passed over; outputs go to a temporary folder.

use std::process::Command;

/// (command line, the lines shown after it) of every example.
fn examples() -> Vec<(Vec<String>, Vec<String>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line != "```text" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let Some(first) = block.first().and_then(|l| l.strip_prefix("$ gpuinit ")) else {
            continue;
        };
        // The command, with its continuation lines.
        let mut command = first.to_string();
        let mut rest = &block[1..];
        while command.ends_with('\\') {
            command.pop();
            command += rest[0].trim();
            rest = &rest[1..];
        }
        let args = command.split_whitespace().map(str::to_string).collect();
        out.push((args, rest.iter().map(|l| l.to_string()).collect()));
    }
    out
}

fn squeeze(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lines no two runs share: timings, and what is written where.
fn varies(line: &str) -> bool {
    line == "..."
        || line.contains(" s (")
        || line.starts_with("time on ")
        || line.starts_with("wrote")
        || line.starts_with("checkpoint: ")
        || line.starts_with("seed: ") && line.contains("drawn")
}

#[test]
fn every_readme_example_is_what_the_command_prints() {
    let dir = tempfile::tempdir().unwrap();
    let examples = examples();
    assert!(examples.len() >= 3, "found {} examples", examples.len());
    for (mut args, shown) in examples {
        // Outputs into the temporary folder, keeping their names.
        for i in 1..args.len() {
            if ["--out", "--plot", "--json", "--markdown", "--checkpoint"]
                .contains(&args[i - 1].as_str())
            {
                let name = std::path::Path::new(&args[i])
                    .file_name()
                    .unwrap()
                    .to_owned();
                args[i] = dir.path().join(name).to_str().unwrap().to_string();
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
            .args(&args)
            .env("EGL_PLATFORM", "surfaceless")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(squeeze)
            .collect();
        // An example run on the README's adapter (llvmpipe, CI's) shows what that adapter
        // computes; on another one the f32 figures may differ in their last digit, so there
        // only the examples that show no adapter are checked.
        let adapter = |l: &str| l.contains("llvmpipe");
        let here = printed.iter().any(|l| adapter(l));
        if !here && shown.iter().any(|l| adapter(l)) {
            eprintln!("SKIPPED on this adapter: gpuinit {}", args.join(" "));
            continue;
        }
        for line in shown.iter().map(|l| squeeze(l)) {
            if varies(&line) {
                continue;
            }
            assert!(
                printed.contains(&line),
                "gpuinit {}: the README shows a line it does not print:\n{line}",
                args.join(" ")
            );
        }
    }
}
