//! Which adapter: by backend, by name, else the most capable kind; and what each offers.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::named::named_enum;

named_enum! {
    /// Which graphics API to open the adapter through.
    #[derive(Default)]
    pub enum BackendChoice ("backend") {
        /// `WGPU_BACKEND` if set, else every backend.
        #[default]
        Auto = ["auto"],
        Vulkan = ["vulkan", "vk"],
        Metal = ["metal", "mtl"],
        Dx12 = ["dx12", "d3d12"],
        Gl = ["gl", "opengl", "gles"],
    }
}

impl BackendChoice {
    /// The backends to enumerate; `Auto` reads `WGPU_BACKEND` (a comma-separated list of
    /// names), refusing a value that names none.
    pub fn backends(self) -> Result<wgpu::Backends> {
        let one = |b: BackendChoice| match b {
            BackendChoice::Auto => wgpu::Backends::all(),
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        };
        if self != BackendChoice::Auto {
            return Ok(one(self));
        }
        let Some(text) = std::env::var_os("WGPU_BACKEND") else {
            return Ok(wgpu::Backends::all());
        };
        let text = text.to_string_lossy();
        let mut set = wgpu::Backends::empty();
        for item in text.split(',') {
            match item.parse::<BackendChoice>() {
                Ok(b) if b != BackendChoice::Auto => set |= one(b),
                _ => {
                    return Err(Error::invalid(format!(
                        "WGPU_BACKEND='{text}' is not a comma-separated list of vulkan, metal, dx12, gl"
                    )))
                }
            }
        }
        Ok(set)
    }
}

/// What `gpuinit devices` reports of an adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub min_storage_buffer_offset_alignment: u32,
    pub timestamp_queries: bool,
    pub shader_f16: bool,
    pub shader_int64: bool,
    pub subgroups: bool,
}

impl AdapterSummary {
    pub(crate) fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            min_storage_buffer_offset_alignment: limits.min_storage_buffer_offset_alignment,
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            shader_int64: features.contains(wgpu::Features::SHADER_INT64),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
        }
    }

    /// "name (backend)", how reports label a device.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.backend)
    }

    /// Whether this is a software adapter on the CPU (lavapipe, llvmpipe, WARP).
    pub fn is_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn enumerate(backend: BackendChoice) -> Result<Vec<wgpu::Adapter>> {
    let backends = backend.backends()?;
    Ok(pollster::block_on(
        instance(backends).enumerate_adapters(backends),
    ))
}

/// Every adapter the chosen backends expose.
pub fn list_adapters(backend: BackendChoice) -> Result<Vec<AdapterSummary>> {
    Ok(enumerate(backend)?.iter().map(AdapterSummary::of).collect())
}

/// The help printed when no adapter exists.
pub const NO_ADAPTER_HELP: &str =
    "no GPU adapter found; on Linux without a GPU install Mesa's software Vulkan \
driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers), or use --device cpu";

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// The adapter to open: on `backend`, whose name contains `name` (case-insensitive;
/// `WGPU_ADAPTER_NAME` when `None`), the most capable kind (discrete, integrated, virtual,
/// other, CPU). [`Error::NoAdapter`] when the backends offer none at all.
pub fn choose(backend: BackendChoice, name: Option<&str>) -> Result<wgpu::Adapter> {
    let adapters = enumerate(backend)?;
    if adapters.is_empty() {
        return Err(Error::NoAdapter(match backend {
            BackendChoice::Auto => NO_ADAPTER_HELP.to_string(),
            b => format!("no adapter for backend {b}; `gpuinit devices` lists what exists, --device cpu needs none"),
        }));
    }
    let wanted = name
        .map(str::to_string)
        .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
    let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
    let mut candidates: Vec<wgpu::Adapter> = match &wanted {
        Some(w) => {
            let needle = w.to_lowercase();
            adapters
                .into_iter()
                .filter(|a| a.get_info().name.to_lowercase().contains(&needle))
                .collect()
        }
        None => adapters,
    };
    if candidates.is_empty() {
        return Err(Error::invalid(format!(
            "no adapter named like '{}'; adapters: {}",
            wanted.unwrap_or_default(),
            names.join(", ")
        )));
    }
    candidates.sort_by_key(|a| rank(a.get_info().device_type));
    Ok(candidates.swap_remove(0))
}
