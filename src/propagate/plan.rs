//! The sizes of everything a GPU run allocates, checked against the device before any
//! allocation: one storage binding per buffer, the dispatch limits, [`MEMORY_BUDGET`].

use super::{Network, MEMORY_BUDGET, WEIGHT_BUDGET};
use crate::abi::{Partial, MATMUL_TILE, RECORD_WORDS, SIDE};
use crate::error::{Error, Result};
use crate::gpu::layer_stats::STATS_GROUPS;
use crate::gpu::{padded, GpuContext};

/// Bytes of one `Partial`.
pub(super) const PARTIAL_BYTES: u64 = std::mem::size_of::<Partial>() as u64;

pub(super) struct Plan {
    /// Row stride of each layer's matrices (floats).
    pub ld: Vec<u64>,
    pub act_buffers: Vec<u64>,
    pub slot_bytes: u64,
    /// Weights resident at once.
    pub slots: usize,
    pub scratch_bytes: u64,
    pub delta_bytes: u64,
    pub graw_bytes: u64,
    pub partials: u64,
    pub records: u64,
}

impl Plan {
    pub fn new(ctx: &GpuContext, net: &Network, backward: bool) -> Result<Plan> {
        let (w, b, d) = (&net.widths, net.batch as u64, net.depth());
        let tile = u64::from(MATMUL_TILE);
        let ld: Vec<u64> = w.iter().map(|&x| padded(x)).collect();
        let act_bytes: Vec<u64> = ld.iter().map(|&l| b * l * 4).collect();
        let widest_act = act_bytes.iter().copied().max().unwrap_or(0);
        let act_buffers = if backward {
            act_bytes.clone()
        } else {
            vec![widest_act, widest_act]
        };
        let slot_bytes = (1..=d)
            .map(|l| w[l] as u64 * ld[l - 1] * 4)
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
        let plan = Plan {
            ld,
            act_buffers,
            slot_bytes,
            slots: ((WEIGHT_BUDGET / slot_bytes.max(1)) as usize).clamp(1, d),
            scratch_bytes,
            delta_bytes: if backward { widest_act } else { 0 },
            graw_bytes: if backward { b * w[d] as u64 * 4 } else { 0 },
            partials: STATS_GROUPS.max(dw_partials),
            records: (3 * d as u64 + 1) * u64::from(RECORD_WORDS) * 4,
        };
        plan.check(ctx, net, backward)?;
        Ok(plan)
    }

    fn check(&self, ctx: &GpuContext, net: &Network, backward: bool) -> Result<()> {
        let (w, b, d) = (&net.widths, net.batch as u64, net.depth());
        let widest = (0..=d).max_by_key(|&l| self.ld[l]).unwrap_or(0);
        ctx.check_binding(
            &format!("batch {b} x width {}", w[widest]),
            b * self.ld[widest] * 4,
        )?;
        let big = (1..=d)
            .max_by_key(|&l| w[l] as u64 * self.ld[l - 1])
            .unwrap_or(1);
        ctx.check_binding(
            &format!("layer {big}'s {} x {} weight", w[big], w[big - 1]),
            self.slot_bytes,
        )?;
        ctx.check_binding("a contiguous weight or input", self.scratch_bytes)?;
        ctx.check_binding("the top gradient", self.graw_bytes)?;
        ctx.check_binding("the statistics partials", self.partials * PARTIAL_BYTES)?;
        ctx.check_binding(&format!("the statistics of {d} layers"), self.records)?;
        let max_groups = ctx.max_workgroups();
        let rows = b
            .div_ceil(u64::from(MATMUL_TILE))
            .max(b.div_ceil(u64::from(SIDE)));
        let cols = self
            .ld
            .iter()
            .map(|&l| l.div_ceil(u64::from(SIDE)))
            .max()
            .unwrap_or(0);
        if rows > max_groups || cols > max_groups {
            return Err(Error::invalid(format!(
                "batch {b} or width {} needs more than this adapter's {max_groups} workgroups per dimension; reduce --batch or --width",
                w[widest]
            )));
        }
        let total = self.act_buffers.iter().sum::<u64>()
            + self.slot_bytes * self.slots as u64
            + self.scratch_bytes
            + 2 * self.delta_bytes
            + self.graw_bytes
            + self.partials * PARTIAL_BYTES
            + 2 * self.records;
        if total > MEMORY_BUDGET {
            return Err(Error::invalid(format!(
                "this network needs {:.1} GiB on the GPU{}, above the {} GiB budget; reduce --batch, --width or --depth",
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
}
