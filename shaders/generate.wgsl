// Generation kernels. CPU twins in src/cpu/generate.rs: `generate` (generate, generate4),
// `words` (words, words4); and src/rng/philox.rs's `philox4x32_10` (philox_kat).
//
// Invocation `inv` computes Philox block `first / 4 + inv` and writes its four words to
// elements 4 * inv + k - first % 4 of the output, those in [0, count). Which invocation
// or dispatch writes an element never changes its value: that is the stream contract.

#import philox
#import distribution

// Chosen per adapter by the host (gpu::GpuOptions::workgroup_size).
override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: GenerateParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
// The same binding seen as whole blocks, for the vec4-store kernels: the host uses them
// when out[0] starts a block (first % 4 == 0) and count is a multiple of 4.
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<u32>>;

fn add64(a: vec2<u32>, b: u32) -> vec2<u32> {
    let lo = a.x + b;
    return vec2<u32>(lo, a.y + select(0u, 1u, lo < b));
}

// Invocation `inv` computes its Philox block and stores the elements of it that fall in
// [0, count): raw words, or their values under params.sampler. `raw` is a constant at
// each call site, so the branch compiles away.
fn write_block(inv: u32, raw: bool) {
    let first_block = vec2<u32>((params.first.x >> 2u) | (params.first.y << 30u), params.first.y >> 2u);
    let w = philox4x32_10(vec4<u32>(add64(first_block, inv), params.stream), params.seed);
    let skip = params.first.x & 3u;
    for (var k = 0u; k < 4u; k++) {
        let pos = inv * 4u + k;
        if (pos >= skip && pos - skip < params.count) {
            if (raw) {
                out[pos - skip] = w[k];
            } else {
                out[pos - skip] = bitcast<u32>(sample(params.sampler, w[k]));
            }
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn generate(@builtin(global_invocation_id) gid: vec3<u32>) {
    write_block(gid.x + gid.y * params.row_stride, false);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn words(@builtin(global_invocation_id) gid: vec3<u32>) {
    write_block(gid.x + gid.y * params.row_stride, true);
}

// Whole blocks with one 16-byte store each: coalesced across a wavefront on a GPU.
fn write_block4(inv: u32, raw: bool) {
    if (inv * 4u >= params.count) {
        return;
    }
    let first_block = vec2<u32>((params.first.x >> 2u) | (params.first.y << 30u), params.first.y >> 2u);
    let w = philox4x32_10(vec4<u32>(add64(first_block, inv), params.stream), params.seed);
    if (raw) {
        out4[inv] = w;
    } else {
        let s = params.sampler;
        out4[inv] = bitcast<vec4<u32>>(vec4<f32>(sample(s, w.x), sample(s, w.y), sample(s, w.z), sample(s, w.w)));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn generate4(@builtin(global_invocation_id) gid: vec3<u32>) {
    write_block4(gid.x + gid.y * params.row_stride, false);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn words4(@builtin(global_invocation_id) gid: vec3<u32>) {
    write_block4(gid.x + gid.y * params.row_stride, true);
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
