//! Bloom filters over user keys (whole-key) and over fixed-length key prefixes.
//!
//! ```text
//! filter = bit_array[m / 8 bytes] ++ k (u8)
//! ```
//!
//! `m` is `max(64, n * bits_per_key)` rounded up to a multiple of 8. For each key the 64-bit
//! hash `h = hash64(key)` ([`hash64`], MurmurHash64A with seed [`BLOOM_SEED`]) gives the probe
//! sequence `h, h + d, h + 2d, ...` (wrapping u64 arithmetic, `d = h.rotate_left(31) | 1`);
//! probe `i` tests bit `(h + i*d) mod m`, where bit `b` is bit `b % 8` of byte `b / 8`.

use alloc::vec::Vec;

/// Seed of the filter hash.
pub const BLOOM_SEED: u64 = 0xCA1B_F11E_5EED_0001;

/// MurmurHash64A (Austin Appleby), little-endian block reads.
pub fn hash64(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let mut k = u64::from_le_bytes(b);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The probe delta for hash `h`.
#[inline]
fn delta(h: u64) -> u64 {
    h.rotate_left(31) | 1
}

/// Number of probes for `bits_per_key`: round(bits_per_key * ln 2) clamped to 1..=30.
pub fn num_probes(bits_per_key: u32) -> u8 {
    let k = (u64::from(bits_per_key) * 693 + 500) / 1000;
    k.clamp(1, 30) as u8
}

/// Collects key hashes and builds a filter.
#[derive(Debug, Clone)]
pub struct FilterBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl FilterBuilder {
    /// A builder spending `bits_per_key` bits per added key.
    pub fn new(bits_per_key: u32) -> Self {
        FilterBuilder {
            bits_per_key,
            hashes: Vec::new(),
        }
    }

    /// Adds a key. Adding the same key twice in a row is ignored.
    pub fn add(&mut self, key: &[u8]) {
        let h = hash64(key, BLOOM_SEED);
        if self.hashes.last() != Some(&h) {
            self.hashes.push(h);
        }
    }

    /// Number of distinct (consecutive) keys added.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when no key was added.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The encoded filter.
    pub fn finish(&self) -> Vec<u8> {
        let n = self.hashes.len() as u64;
        let bits = (n * u64::from(self.bits_per_key)).max(64);
        let bytes = bits.div_ceil(8) as usize;
        let m = (bytes as u64) * 8;
        let k = num_probes(self.bits_per_key);
        let mut out = alloc::vec![0u8; bytes + 1];
        for &h0 in &self.hashes {
            let d = delta(h0);
            let mut h = h0;
            for _ in 0..k {
                let b = (h % m) as usize;
                out[b / 8] |= 1 << (b % 8);
                h = h.wrapping_add(d);
            }
        }
        out[bytes] = k;
        out
    }
}

/// A decoded filter. Malformed filters (no bits, or a probe count outside 1..=30) answer
/// "may contain" for every key, which is always correct.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    data: Vec<u8>,
}

impl BloomFilter {
    /// Wraps encoded filter bytes.
    pub fn new(data: Vec<u8>) -> Self {
        BloomFilter { data }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// False only if `key` was certainly not added.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let len = self.data.len();
        if len < 2 {
            return true;
        }
        let k = self.data[len - 1];
        if k == 0 || k > 30 {
            return true;
        }
        let bits = &self.data[..len - 1];
        let m = (bits.len() as u64) * 8;
        let h0 = hash64(key, BLOOM_SEED);
        let d = delta(h0);
        let mut h = h0;
        for _ in 0..k {
            let b = (h % m) as usize;
            if bits[b / 8] & (1 << (b % 8)) == 0 {
                return false;
            }
            h = h.wrapping_add(d);
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn probes() {
        assert_eq!(num_probes(10), 7);
        assert_eq!(num_probes(0), 1);
        assert_eq!(num_probes(1), 1);
        assert_eq!(num_probes(100), 30);
    }

    #[test]
    fn no_false_negatives_and_low_false_positive_rate() {
        let n = 100_000;
        let mut b = FilterBuilder::new(10);
        for i in 0..n {
            b.add(format!("user-key-{i:08}").as_bytes());
        }
        let f = BloomFilter::new(b.finish());
        for i in 0..n {
            assert!(f.may_contain(format!("user-key-{i:08}").as_bytes()));
        }
        let mut fp = 0;
        for i in 0..n {
            if f.may_contain(format!("absent-key-{i:08}").as_bytes()) {
                fp += 1;
            }
        }
        let rate = fp as f64 / n as f64;
        std::println!(
            "bloom false-positive rate at 10 bits/key: {:.4}%",
            rate * 100.0
        );
        assert!(rate <= 0.012, "false-positive rate {rate}");
        // Also short binary keys, a different distribution.
        let mut b = FilterBuilder::new(10);
        for i in 0u32..n {
            b.add(&i.to_be_bytes());
        }
        let f = BloomFilter::new(b.finish());
        let fp = (n..2 * n)
            .filter(|i| f.may_contain(&i.to_be_bytes()))
            .count();
        let rate = fp as f64 / n as f64;
        std::println!(
            "bloom false-positive rate (4-byte keys): {:.4}%",
            rate * 100.0
        );
        assert!(rate <= 0.012, "false-positive rate {rate}");
    }

    #[test]
    fn malformed_filters_say_maybe() {
        assert!(BloomFilter::new(Vec::new()).may_contain(b"x"));
        assert!(BloomFilter::new(alloc::vec![0, 0, 0, 0]).may_contain(b"x"));
        assert!(BloomFilter::new(alloc::vec![0, 0, 0, 99]).may_contain(b"x"));
    }
}
