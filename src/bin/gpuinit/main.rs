//! The `gpuinit` command line: parse ([`cli`]) -> run ([`commands`], the library doing the
//! work) -> render ([`render`]; files in [`output`]). Nothing here is a second copy of
//! library logic.

mod cli;
mod commands;
mod output;
mod render;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::command::Cli;
use crate::render::say;

/// clap's message in one line, without its usage and help hints.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// On SIGINT or SIGTERM: remove every temporary output file, then exit as the signal would
/// have (128 + its number). Outputs already in place are untouched.
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            gpuinit::output::remove_temporaries();
            gpuinit::init::release_locks();
            std::process::exit(128 + signal);
        }
    });
}

/// Headless compute needs no display, but two of Mesa's components look for one and, with
/// no desktop session, print "XDG_RUNTIME_DIR is invalid" on standard error:
/// - its EGL, listing GL adapters, unless told the surfaceless platform;
/// - its device-select layer (`VK_LAYER_MESA_device_select`, loaded implicitly by the
///   Vulkan loader), which asks the Wayland compositor for the desktop's GPU whenever
///   devices are enumerated. gpuinit ranks adapters itself, and with no session there is
///   no desktop GPU to find, so the layer is switched off by its own `NODEVICE_SELECT`
///   unless a session exists or the user chose a device through the layer.
///
/// Set before any thread starts (the environment is not thread-safe to write).
fn headless() {
    let unset = |v: &str| std::env::var_os(v).is_none();
    if unset("EGL_PLATFORM") {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let session =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if !session && unset("NODEVICE_SELECT") && unset("MESA_VK_DEVICE_SELECT") {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

fn main() -> ExitCode {
    headless();
    clean_up_on_signals();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = say::Say::stderr().line(&one_line(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version: a closed pipe is not an error, a full disk is.
            return match say::out(&e.render().to_string()) {
                Err(e) if !e.is_closed_pipe() => {
                    let _ = say::Say::stderr()
                        .line(&format!("error: {}", e.to_string().replace('\n', " ")));
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            };
        }
    };
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ =
                say::Say::stderr().line(&format!("error: {}", e.to_string().replace('\n', " ")));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
