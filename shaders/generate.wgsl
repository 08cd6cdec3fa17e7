// Generation kernels. CPU twins in src/cpu/generate.rs: `generate` and `generate4` (its
// `generate` and `words`, by KIND); src/rng/philox.rs's `philox4x32_10` (`philox_kat`).
//
// Invocation `inv` computes Philox block `first / 4 + inv` and writes its four words'
// values to elements 4 * inv + k - first % 4 of the output, those in [0, count). Which
// invocation or dispatch writes an element never changes its value: that is the stream
// contract.

#import philox
#import distribution

// Chosen per adapter by the host (gpu::GpuOptions::workgroup_size).
override WORKGROUP_SIZE: u32 = 64u;
// What this pipeline writes: KIND_UNIFORM, KIND_NORMAL, KIND_CONSTANT (values under
// params.sampler, whose kind the host matched) or KIND_WORDS (raw words). One pipeline per
// kind, so no kernel switches on it at run time: a software rasterizer's SIMD lanes would
// otherwise run every map, masked.
override KIND: u32 = KIND_UNIFORM;

@group(0) @binding(0) var<uniform> params: GenerateParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
// The same binding seen as whole blocks, for `generate4`: the host uses it when out[0]
// starts a block (first % 4 == 0) and count is a multiple of 4.
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<u32>>;

fn add64(a: vec2<u32>, b: u32) -> vec2<u32> {
    let lo = a.x + b;
    return vec2<u32>(lo, a.y + select(0u, 1u, lo < b));
}

// The four words of the Philox block of invocation `inv`.
fn block_words(inv: u32) -> vec4<u32> {
    let first_block = vec2<u32>((params.first.x >> 2u) | (params.first.y << 30u), params.first.y >> 2u);
    return philox4x32_10(vec4<u32>(add64(first_block, inv), params.stream), params.seed);
}

// What this pipeline stores for `word` (KIND is a constant: the other maps compile away).
fn value(word: u32) -> u32 {
    if (KIND == KIND_WORDS) {
        return word;
    }
    if (KIND == KIND_UNIFORM) {
        return bitcast<u32>(sample_uniform(params.sampler, word));
    }
    if (KIND == KIND_NORMAL) {
        return bitcast<u32>(sample_normal(params.sampler, word));
    }
    return bitcast<u32>(params.sampler.shift);
}

// Any slice: each element of the block that falls in [0, count), one 4-byte store each.
@compute @workgroup_size(WORKGROUP_SIZE)
fn generate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inv = gid.x + gid.y * params.row_stride;
    let w = block_words(inv);
    let skip = params.first.x % ELEMENTS_PER_INVOCATION;
    for (var k = 0u; k < ELEMENTS_PER_INVOCATION; k++) {
        let pos = inv * ELEMENTS_PER_INVOCATION + k;
        if (pos >= skip && pos - skip < params.count) {
            out[pos - skip] = value(w[k]);
        }
    }
}

// Whole blocks with one 16-byte store each: coalesced across a wavefront on a GPU.
@compute @workgroup_size(WORKGROUP_SIZE)
fn generate4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inv = gid.x + gid.y * params.row_stride;
    if (inv * ELEMENTS_PER_INVOCATION >= params.count) {
        return;
    }
    if (KIND == KIND_CONSTANT) {
        out4[inv] = vec4<u32>(bitcast<u32>(params.sampler.shift));
        return;
    }
    let w = block_words(inv);
    out4[inv] = vec4<u32>(value(w.x), value(w.y), value(w.z), value(w.w));
}

// Raw Philox on arbitrary (counter, key) records of 8 words: [c0 c1 c2 c3 k0 k1 _ _] in,
// [x0 x1 x2 x3 ...] out; for known-answer tests on the device.
@compute @workgroup_size(WORKGROUP_SIZE)
fn philox_kat(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= params.count) {
        return;
    }
    let b = r * 8u;
    let x = philox4x32_10(vec4<u32>(out[b], out[b + 1u], out[b + 2u], out[b + 3u]), vec2<u32>(out[b + 4u], out[b + 5u]));
    out[b] = x.x;
    out[b + 1u] = x.y;
    out[b + 2u] = x.z;
    out[b + 3u] = x.w;
}
