// Per-layer statistics of a [rows, cols] matrix stored with row stride `ld` (floats):
// moments (count, mean, sum of squared deviations, min, max, saturated and non-finite
// counts) and a fixed-bin histogram. CPU twin: the functions of the same names in
// src/cpu/layer_stats.rs.
//
// Three dispatches per matrix, in one submission with the layer's other work:
//   moments   `groups` workgroups, each summarizing whole rows into one Partial;
//   finalize  one workgroup merging those partials into the matrix's record and fixing
//             its histogram range;
//   histogram the same grid as moments, counting into the record's bins.
// Only records (RECORD_WORDS words each) are ever read back to the host.

#import activation
#import reduce

// Record layout: the REC_ word indices in abi (src/abi.rs); f32 fields by their bits.
const NBINS: u32 = HIST_BINS;
const WG: u32 = STATS_WG;

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage, read> data: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<Partial>;
@group(0) @binding(3) var<storage, read_write> records: array<atomic<u32>>;

var<workgroup> red: array<Partial, WG>;
var<workgroup> bins: array<atomic<u32>, NBINS>;

// Tree merge of red[0 .. WG] into red[0]; every invocation must call it.
fn reduce_workgroup(t: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if t < s {
            red[t] = partial_merge(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(STATS_WG)
fn moments(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    var r = partial_empty();
    for (var row = wid.x; row < params.rows; row += params.groups) {
        let base = row * params.ld;
        for (var c = t; c < params.cols; c += WG) {
            let x = data[base + c];
            partial_push(&r, x, saturated(params.act, x));
        }
    }
    red[t] = r;
    reduce_workgroup(t);
    if t == 0u {
        partials[wid.x] = red[0];
    }
}

@compute @workgroup_size(STATS_WG)
fn finalize(@builtin(local_invocation_index) t: u32) {
    var p = partial_empty();
    for (var i = t; i < params.partials; i += WG) {
        p = partial_merge(p, partials[i]);
    }
    red[t] = p;
    reduce_workgroup(t);
    if t == 0u {
        let s = red[0];
        let base = params.record * RECORD_WORDS;
        atomicStore(&records[base + REC_N], s.n);
        atomicStore(&records[base + REC_SATURATED], s.sat);
        atomicStore(&records[base + REC_NONFINITE], s.nonfinite);
        atomicStore(&records[base + REC_MEAN], bitcast<u32>(s.mean));
        atomicStore(&records[base + REC_SCALE], bitcast<u32>(s.scale));
        atomicStore(&records[base + REC_SSQ], bitcast<u32>(s.ssq));
        atomicStore(&records[base + REC_MIN], bitcast<u32>(s.lo));
        atomicStore(&records[base + REC_MAX], bitcast<u32>(s.hi));
        let range = hist_range(params.range_mode, params.hist_lo, params.hist_hi, s);
        atomicStore(&records[base + REC_HIST_LO], bitcast<u32>(range.x));
        atomicStore(&records[base + REC_HIST_HI], bitcast<u32>(range.y));
    }
}

// The histogram's [low, high]: fixed, or the data's range widened when it is a point.
fn hist_range(mode: u32, lo: f32, hi: f32, s: Partial) -> vec2<f32> {
    if mode == 0u {
        return vec2<f32>(lo, hi);
    }
    if s.n == 0u {
        return vec2<f32>(0.0, 0.0);
    }
    if s.hi > s.lo {
        return vec2<f32>(s.lo, s.hi);
    }
    let w = 0.5 * max(abs(s.lo), 1.0);
    return vec2<f32>(s.lo - w, s.hi + w);
}

// The bin of a finite x in [lo, hi], values outside going to the end bins.
fn bin_of(x: f32, lo: f32, scale: f32) -> u32 {
    return u32(floor(clamp((x - lo) * scale, 0.0, f32(NBINS - 1u))));
}

@compute @workgroup_size(STATS_WG)
fn histogram(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    if t < NBINS {
        atomicStore(&bins[t], 0u);
    }
    let base = params.record * RECORD_WORDS;
    let lo = bitcast<f32>(atomicLoad(&records[base + REC_HIST_LO]));
    let hi = bitcast<f32>(atomicLoad(&records[base + REC_HIST_HI]));
    let scale = f32(NBINS) / (hi - lo);
    let counting = hi > lo;
    workgroupBarrier();
    if counting {
        for (var row = wid.x; row < params.rows; row += params.groups) {
            let rbase = row * params.ld;
            for (var c = t; c < params.cols; c += WG) {
                let x = data[rbase + c];
                if !non_finite(x) {
                    atomicAdd(&bins[bin_of(x, lo, scale)], 1u);
                }
            }
        }
    }
    workgroupBarrier();
    if t < NBINS {
        atomicAdd(&records[base + REC_BINS + t], atomicLoad(&bins[t]));
    }
}
