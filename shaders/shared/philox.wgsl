// Philox4x32-10 (Salmon et al., SC'11) exactly as Random123's philox.h.
// CPU twin: src/rng/philox.rs. Constants from abi (src/abi.rs); `mulhilo` from
// mulhilo.wgsl, or mulhilo_int64.wgsl in the stage variant build.rs composes for
// adapters with 64-bit integers.

#import abi
#import mulhilo

// The standard round count; the pipeline overrides it only to show that tests catch a
// weaker generator.
override PHILOX_ROUNDS_USED: u32 = PHILOX_ROUNDS;

fn philox_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, ctr.x);
    let p1 = mulhilo(PHILOX_M1, ctr.z);
    return vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
}

// Ten rounds written out, the key schedule folded to constants: a loop whose trip count
// is an override constant is not unrolled by every driver compiler (llvmpipe's is not).
fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    if (PHILOX_ROUNDS_USED != 10u) {
        return philox_rounds(ctr, key, PHILOX_ROUNDS_USED);
    }
    let w = vec2<u32>(PHILOX_W0, PHILOX_W1);
    var x = philox_round(ctr, key);
    x = philox_round(x, key + w);
    x = philox_round(x, key + 2u * w);
    x = philox_round(x, key + 3u * w);
    x = philox_round(x, key + 4u * w);
    x = philox_round(x, key + 5u * w);
    x = philox_round(x, key + 6u * w);
    x = philox_round(x, key + 7u * w);
    x = philox_round(x, key + 8u * w);
    return philox_round(x, key + 9u * w);
}

// Any number of rounds, for the tests that show a weaker generator is caught.
fn philox_rounds(ctr_in: vec4<u32>, key_in: vec2<u32>, rounds: u32) -> vec4<u32> {
    var ctr = ctr_in;
    var key = key_in;
    for (var r = 0u; r < rounds; r++) {
        if (r > 0u) {
            key = key + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        ctr = philox_round(ctr, key);
    }
    return ctr;
}
