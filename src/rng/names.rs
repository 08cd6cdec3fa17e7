//! The stream of a named tensor: 64-bit FNV-1a of the name's UTF-8 bytes (docs/STREAM.md),
//! so a checkpoint's tensors keep their values however many others are added, removed or
//! reordered around them.

/// FNV-1a's 64-bit offset basis and prime (Fowler, Noll, Vo).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stream of the tensor called `name`.
pub fn stream_of_name(name: &str) -> u64 {
    name.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64 reference values (the FNV authors' test suite).
    #[test]
    fn fnv1a_known_answers() {
        assert_eq!(stream_of_name(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_of_name("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stream_of_name("foobar"), 0x8594_4171_f739_67e8);
    }
}
