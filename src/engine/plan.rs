//! What a pass through a [`Network`] allocates, computed once for every backend and checked
//! before anything is allocated: the memory budget everywhere, and on a GPU one storage
//! binding per buffer and the dispatch limits.

use super::network::Network;
use crate::abi::{Partial, MATMUL_TILE, RECORD_WORDS, SIDE};
use crate::error::{Error, Result};
use crate::gpu::layer_stats::STATS_GROUPS;
use crate::gpu::{padded, GpuDevice};

/// Most memory one run may allocate, on the GPU or for the CPU reference.
pub const MEMORY_BUDGET: u64 = 4 << 30;
/// Weights kept resident at once; past this, layers are regenerated for the backward pass.
pub const WEIGHT_BUDGET: u64 = 1 << 30;
/// Bytes of one statistics partial.
const PARTIAL_BYTES: u64 = std::mem::size_of::<Partial>() as u64;

/// The sizes of a pass, in bytes at the padded row stride (the GPU's; the CPU needs no
/// more).
pub struct Plan {
    /// Each activation buffer: one per layer with the backward pass, else two of the
    /// widest, used in turn.
    pub act_buffers: Vec<u64>,
    /// One weight slot: room for the largest layer.
    pub slot_bytes: u64,
    /// Weights resident at once.
    pub slots: usize,
    /// The contiguous copy a weight or input whose rows need padding is generated into.
    pub scratch_bytes: u64,
    /// Each of the two deltas of the backward pass (0 without it).
    pub delta_bytes: u64,
    pub graw_bytes: u64,
    pub partials: u64,
    pub records: u64,
}

impl Plan {
    pub fn new(net: &Network, backward: bool) -> Plan {
        let (w, b, d) = (&net.widths, net.batch as u64, net.depth());
        let tile = u64::from(MATMUL_TILE);
        let act_bytes: Vec<u64> = w.iter().map(|&x| b * padded(x) * 4).collect();
        let widest_act = act_bytes.iter().copied().max().unwrap_or(0);
        let slot_bytes = (1..=d)
            .map(|l| w[l] as u64 * padded(w[l - 1]) * 4)
            .max()
            .unwrap_or(0);
        let mut scratch_bytes = if w[0] % 4 != 0 {
            b * w[0] as u64 * 4
        } else {
            0
        };
        for l in 1..=d {
            if w[l - 1] % 4 != 0 {
                scratch_bytes = scratch_bytes.max(w[l] as u64 * w[l - 1] as u64 * 4);
            }
        }
        let dw_partials = (1..=d)
            .filter(|_| backward)
            .map(|l| (w[l] as u64).div_ceil(tile) * (w[l - 1] as u64).div_ceil(tile))
            .max()
            .unwrap_or(0);
        Plan {
            act_buffers: if backward {
                act_bytes
            } else {
                vec![widest_act; 2]
            },
            slot_bytes,
            slots: ((WEIGHT_BUDGET / slot_bytes.max(1)) as usize).clamp(1, d),
            scratch_bytes,
            delta_bytes: if backward { widest_act } else { 0 },
            graw_bytes: if backward { b * w[d] as u64 * 4 } else { 0 },
            partials: STATS_GROUPS.max(dw_partials),
            records: (3 * d as u64 + 1) * u64::from(RECORD_WORDS) * 4,
        }
    }

    /// Everything the pass allocates.
    pub fn total(&self) -> u64 {
        self.act_buffers.iter().sum::<u64>()
            + self.slot_bytes * self.slots as u64
            + self.scratch_bytes
            + 2 * self.delta_bytes
            + self.graw_bytes
            + self.partials * PARTIAL_BYTES
            + 2 * self.records
    }

    /// Refuses a pass past [`MEMORY_BUDGET`].
    pub fn check_memory(&self, backward: bool) -> Result<()> {
        let total = self.total();
        if total > MEMORY_BUDGET {
            return Err(Error::invalid(format!(
                "this network needs {:.1} GiB{}, above the {} GiB budget; reduce --batch, --width or --depth",
                total as f64 / (1u64 << 30) as f64,
                if backward {
                    " (--backward keeps every layer's activations)"
                } else {
                    ""
                },
                MEMORY_BUDGET >> 30
            )));
        }
        Ok(())
    }

    /// Refuses a pass this device cannot run: a buffer past one storage binding, a grid
    /// past the dispatch limits, or the memory budget.
    pub fn check_device(&self, dev: &GpuDevice, net: &Network, backward: bool) -> Result<()> {
        let (w, b, d) = (&net.widths, net.batch as u64, net.depth());
        let widest = (0..=d).max_by_key(|&l| padded(w[l])).unwrap_or(0);
        dev.check_binding(
            &format!("batch {b} x width {}", w[widest]),
            b * padded(w[widest]) * 4,
        )?;
        let big = (1..=d)
            .max_by_key(|&l| w[l] as u64 * padded(w[l - 1]))
            .unwrap_or(1);
        dev.check_binding(
            &format!("layer {big}'s {} x {} weight", w[big], w[big - 1]),
            self.slot_bytes,
        )?;
        dev.check_binding("a contiguous weight or input", self.scratch_bytes)?;
        dev.check_binding("the top gradient", self.graw_bytes)?;
        dev.check_binding("the statistics partials", self.partials * PARTIAL_BYTES)?;
        dev.check_binding(&format!("the statistics of {d} layers"), self.records)?;
        let max_groups = dev.max_workgroups();
        let rows = b
            .div_ceil(u64::from(MATMUL_TILE))
            .max(b.div_ceil(u64::from(SIDE)));
        let cols = w
            .iter()
            .map(|&x| padded(x).div_ceil(u64::from(SIDE)))
            .max()
            .unwrap_or(0);
        if rows > max_groups || cols > max_groups {
            return Err(Error::invalid(format!(
                "batch {b} or width {} needs more than this adapter's {max_groups} workgroups per dimension; reduce --batch or --width",
                w[widest]
            )));
        }
        self.check_memory(backward)
    }
}
