// Philox4x32-10 (Salmon et al., SC'11) exactly as Random123's philox.h.
// CPU twin: src/rng/philox.rs. Constants from abi (src/abi.rs).
// WGSL has no 32x32->64 multiply, so mulhilo builds the high word from 16-bit halves.

#import abi

// The standard round count; the pipeline overrides it only to show that tests catch a
// weaker generator.
override PHILOX_ROUNDS_USED: u32 = PHILOX_ROUNDS;

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

fn philox_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, ctr.x);
    let p1 = mulhilo(PHILOX_M1, ctr.z);
    return vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
}

fn philox4x32_10(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var ctr = ctr_in;
    var key = key_in;
    for (var r = 0u; r < PHILOX_ROUNDS_USED; r++) {
        if (r > 0u) {
            key = key + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        ctr = philox_round(ctr, key);
    }
    return ctr;
}
