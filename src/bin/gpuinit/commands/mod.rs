//! One file per command: each runs the library on its checked arguments and renders what
//! it returns.

pub mod bench;
pub mod checkpoint;
pub mod devices;
pub mod init;
pub mod propagate;
pub mod sample;
pub mod shapeset;
pub mod stream;
pub mod train;
pub mod verify;

use gpuinit::Result;

use crate::cli::command::Command;

/// Runs `command`.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Devices(a) => devices::run(&a),
        Command::Sample(a) => sample::run(&a),
        Command::Stream(a) => stream::run(&a),
        Command::Propagate(a) => propagate::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Shapeset(a) => shapeset::run(&a),
        Command::Train(a) => train::run(&a),
    }
}
