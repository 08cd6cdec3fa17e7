//! `gpuinit devices`: every adapter, with the limits that matter here.

use clap::Args;
use gpuinit::gpu::{list_adapters, AdapterSummary, NO_ADAPTER_HELP};
use gpuinit::{BackendChoice, Result};

use crate::cli::named;
use crate::render::say::out;

#[derive(Args)]
pub struct DevicesArgs {
    #[arg(long, value_parser = named::<BackendChoice>(), default_value = "auto")]
    backend: BackendChoice,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One adapter's line.
fn line(a: &AdapterSummary) -> String {
    // GL reports its version as the driver and the vendor string as the info; either may be
    // empty, and neither should leave a doubled space.
    let driver: Vec<&str> = [a.driver.trim(), a.driver_info.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    format!(
        "{} | {} | {} | driver {} | max buffer {} MiB, max storage binding {} MiB, {} workgroups/dim, {} invocations/workgroup, timestamps {}, int64 {}",
        a.name,
        a.backend,
        a.device_type,
        driver.join(" "),
        a.max_buffer_size >> 20,
        a.max_storage_buffer_binding_size >> 20,
        a.max_compute_workgroups_per_dimension,
        a.max_compute_invocations_per_workgroup,
        if a.timestamp_queries { "yes" } else { "no" },
        if a.shader_int64 { "yes" } else { "no" },
    )
}

pub fn run(a: &DevicesArgs) -> Result<()> {
    let adapters = list_adapters(a.backend)?;
    if a.json {
        let text = serde_json::to_string_pretty(&adapters).expect("adapter summaries serialize");
        return out(&(text + "\n"));
    }
    if adapters.is_empty() {
        return out(&format!("{NO_ADAPTER_HELP}\n"));
    }
    let lines: Vec<String> = adapters.iter().map(line).collect();
    out(&(lines.join("\n") + "\n"))
}
