//! `gpuinit init`: a whole model's initial weights as a safetensors checkpoint, from a
//! Hugging Face config or a spec file, written by one process or split across many. The
//! library writes it ([`init::write_checkpoint`]); this command chooses the sink.

use gpuinit::init::{self, Discard, FileSink, Sink};
use gpuinit::{Devices, Result};

use crate::cli::init::{plan, InitArgs};
use crate::render::init::{describe, done, Bar};
use crate::render::say::Say;

pub fn run(a: &InitArgs) -> Result<()> {
    let spec = init::load_spec(a.config.as_deref(), a.spec.as_deref(), a.dtype.as_deref())?;
    if a.print_spec {
        return Say::stdout().text(&spec.to_json());
    }
    let (plan, drawn) = plan(a, &spec)?;
    // Everything that can be known up front is refused before anything is created: the
    // folder and its room (which files are this process's depends on the spec and the size
    // limit alone), then the device, then standard output (the plan is printed first).
    if let Some(dir) = &a.out {
        FileSink::precheck(dir, &plan, a.force)?;
    }
    let devices = Devices::open(a.device, &a.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let mut say = Say::stdout();
    say.text(&describe(&spec, &plan, drawn))?;
    let mut sink: Box<dyn Sink> = match &a.out {
        Some(dir) => {
            let mut files = FileSink::create(dir)?;
            // Claimed, then checked again: no other run can publish in between.
            let removed = files.claim(&plan)?;
            if !removed.is_empty() {
                Say::stderr().line(&format!(
                    "removed {} temporary file(s) that stopped runs left in '{}': {}",
                    removed.len(),
                    dir.display(),
                    removed.join(", ")
                ))?;
            }
            files.check(&plan, a.force)?;
            Box::new(files)
        }
        None => Box::new(Discard::default()),
    };
    let start = std::time::Instant::now();
    let summary =
        init::write_checkpoint(&plan, devices.primary(), sink.as_mut(), &mut Bar::default())?;
    drop(sink);
    say.text(&done(&summary, start.elapsed(), a.out.as_deref()))
}
