// mulhilo for every adapter: WGSL has no 32x32->64 multiply, so the high word is built
// from 16-bit halves. The SHADER_INT64 form is mulhilo_int64.wgsl; both give the same bits
// (tests/gpu.rs compares them with the CPU on every adapter).

// (high, low) 32-bit words of the 64-bit product a * b, from four 16x16 products.
// The middle column (ll >> 16) + (lh & 0xFFFF) + hl is at most (2^16-1)^2 + 2(2^16-1)
// = 2^32 - 1, so it cannot overflow; its high half carries into the high word, its low
// half is the low word's top 16 bits.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + hl;
    let hi = hh + (lh >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, (mid << 16u) | (ll & 0xFFFFu));
}
