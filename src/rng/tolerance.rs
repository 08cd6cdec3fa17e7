//! How far a value may be from the CPU reference's and still meet the contract
//! (`docs/STREAM.md`, "Tolerance"): uniform-family values are bit-identical on every device;
//! normal-family values (normal, truncated normal), whose maps use `log`, `sqrt` and
//! possibly fused multiply-adds that WGSL does not pin down, agree per element within
//!
//! ```text
//! |gpu - cpu| <= MAX_ULPS ulps of the value,  or  |gpu - cpu| <= MAX_ABS_PER_STD * std
//! ```
//!
//! the second for values so near zero that ulps mean little.

/// Ulps of the value a normal-family element may differ by, GPU against the CPU reference.
pub const MAX_ULPS: u32 = 16;
/// Or the absolute difference, as a fraction of the distribution's std (`Sampler::scale`).
pub const MAX_ABS_PER_STD: f64 = 1e-6;

/// Distance in units in the last place, across zero: the number of f32 values between
/// `a` and `b`, counting `+0.0` and `-0.0` as one (0 when equal).
pub fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i32::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

#[cfg(test)]
mod tests {
    use super::ulps;

    #[test]
    fn ulps_count_representable_steps_across_zero() {
        assert_eq!(ulps(1.0, 1.0), 0);
        assert_eq!(ulps(1.0, f32::from_bits(1.0f32.to_bits() + 3)), 3);
        assert_eq!(ulps(f32::from_bits(1.0f32.to_bits() + 3), 1.0), 3);
        assert_eq!(ulps(0.0, -0.0), 0);
        let tiny = f32::from_bits(1);
        assert_eq!(ulps(tiny, -tiny), 2);
        assert_eq!(ulps(-1.0, -1.0), 0);
        assert_eq!(ulps(-1.0, f32::from_bits((-1.0f32).to_bits() + 2)), 2);
    }
}
