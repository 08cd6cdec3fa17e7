// mulhilo from one 64-bit product, for adapters with SHADER_INT64 (build.rs composes the
// `generate_int64` stage with it in place of mulhilo.wgsl). One wide multiply instead of
// four 16-bit ones; the same bits.

fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let p = u64(a) * u64(b);
    return vec2<u32>(u32(p >> 32u), u32(p));
}
