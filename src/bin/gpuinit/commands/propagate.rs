//! `gpuinit propagate`: deep forward (and backward) passes on generated weights, a table
//! per scheme, `--json` and `--plot`.

use gpuinit::output::{distinct, Output, PathOutput};
use gpuinit::propagate::{self, PropagateReport};
use gpuinit::{Devices, Error, Result};

use crate::cli::propagate::{resolve, PropagateArgs};
use crate::render::plot::{self, PlotFormat};
use crate::render::propagate::{header, section};
use crate::render::say::{out, Say};

pub fn run(args: &PropagateArgs) -> Result<()> {
    let (net, inits) = resolve(args)?;
    // Outputs are opened, and the device checked against the network, before any work.
    let (json_path, plot_path) = (
        args.json.as_ref().map(|p| p.to_string_lossy().into_owned()),
        args.plot.as_ref().map(|p| p.to_string_lossy().into_owned()),
    );
    distinct(&[
        ("--json", json_path.as_deref()),
        ("--plot", plot_path.as_deref()),
    ])?;
    let json = args
        .json
        .as_ref()
        .map(|p| Output::create(&p.to_string_lossy()))
        .transpose()?;
    let plot = args.plot.as_deref().map(PathOutput::open).transpose()?;
    let devices = Devices::open(args.device, &args.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    if let Some(g) = &devices.gpu {
        propagate::check_gpu(g, &net, args.backward)?;
    }
    out(&header(&net, args))?;
    let mut schemes = Vec::new();
    let mut failures = Vec::new();
    for init in &inits {
        let r =
            propagate::run_scheme(&net, init, args.backward, devices.gpu.as_ref(), devices.cpu)?;
        out(&section(&r, &net, args.backward))?;
        if let Some(c) = r.comparison.as_ref().filter(|c| !c.within_tolerance()) {
            failures.push(format!("{} ({})", init.label, c.worst().at));
        }
        schemes.push(r);
    }
    let report = PropagateReport::new(net, args.backward, schemes);
    if let (Some(mut file), Some(path)) = (json, &args.json) {
        let text = serde_json::to_string_pretty(&report).expect("the report serializes");
        file.write_bytes((text + "\n").as_bytes())?;
        file.finish()?;
        out(&format!("\nwrote {}\n", path.display()))?;
    }
    if let (Some(file), Some(path)) = (plot, &args.plot) {
        plot::draw(&report, file.path(), PlotFormat::of(path)?)
            .map_err(|e| Error::write(format!("'{}'", path.display()), std::io::Error::other(e)))?;
        file.finish()?;
        out(&format!("wrote {}\n", path.display()))?;
    }
    if !failures.is_empty() {
        return Err(Error::Gpu(format!(
            "GPU and CPU reference disagree beyond the documented tolerance for {}",
            failures.join(", ")
        )));
    }
    Ok(())
}
