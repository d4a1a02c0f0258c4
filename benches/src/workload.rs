//! Key, value and operation generators, db_bench style: 16-byte keys, 100-byte values, all
//! seeded so every engine sees the same sequence of operations.

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};

/// Key length in bytes.
pub const KEY_LEN: usize = 16;
/// Value length in bytes.
pub const VALUE_LEN: usize = 100;

static ASCII_KEYS: AtomicBool = AtomicBool::new(false);

/// Chooses the key format for this process: db_bench's (the default: the number as 8
/// big-endian bytes, padded with eight `'0'` bytes) or 16 ASCII decimal digits (`ascii`),
/// whose first 9+ bytes are the same `'0'` for every key below 10^7: a harder case for
/// engines that order keys by a cached 8-byte prefix.
pub fn set_ascii_keys(ascii: bool) {
    ASCII_KEYS.store(ascii, Ordering::Relaxed);
}

/// The key of item `i` of a database of present keys: the number `2 * i` encoded so keys
/// sort in item order (see [`set_ascii_keys`]); every present key is even. [`missing_key`]
/// yields the odd numbers between them: absent keys that fall *inside* every table's key
/// range (so a lookup cannot be answered by the table's bounds alone; the bloom filter has to
/// do it).
#[inline]
pub fn key(i: u64) -> [u8; KEY_LEN] {
    encode(2 * i)
}

/// An absent key between `key(i)` and `key(i + 1)`.
#[inline]
pub fn missing_key(i: u64) -> [u8; KEY_LEN] {
    encode(2 * i + 1)
}

#[inline]
fn encode(n: u64) -> [u8; KEY_LEN] {
    if ASCII_KEYS.load(Ordering::Relaxed) {
        digits(n)
    } else {
        let mut out = [b'0'; KEY_LEN];
        out[..8].copy_from_slice(&n.to_be_bytes());
        out
    }
}

fn digits(mut n: u64) -> [u8; KEY_LEN] {
    let mut out = [b'0'; KEY_LEN];
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// Fills `out` with a value that compresses to about half its size (as db_bench's default
/// `compression_ratio = 0.5`): the first half random bytes, the second half a repeat of them.
pub fn fill_value(rng: &mut SmallRng, out: &mut [u8; VALUE_LEN]) {
    let half = VALUE_LEN / 2;
    rng.fill_bytes(&mut out[..half]);
    let (a, b) = out.split_at_mut(half);
    b.copy_from_slice(&a[..VALUE_LEN - half]);
}

/// A seeded fast RNG; `stream` separates threads and workloads.
pub fn rng(seed: u64, stream: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A seeded random permutation of `0..n` (Fisher–Yates): `fillrandom` writes every key
/// exactly once in random order, so every later read of `key(i)` for `i < n` hits.
pub fn permutation(n: u64, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut r = rng(seed, 0xF111);
    for i in (1..v.len()).rev() {
        let j = r.gen_range(0..=i);
        v.swap(i, j);
    }
    v
}

/// YCSB's scrambled Zipfian generator (Gray et al., "Quickly generating billion-record
/// synthetic databases"), constant 0.99 as in YCSB, items hashed so the hot ones spread over
/// the key space.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    /// A generator over `0..n` (n >= 1).
    pub fn new(n: u64) -> Self {
        let n = n.max(1);
        let theta = 0.99;
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2.min(n), theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipf {
            n,
            theta,
            alpha,
            zetan,
            eta,
        }
    }

    /// Next rank in `0..n` (0 the most popular), not scrambled.
    pub fn next_rank(&self, rng: &mut SmallRng) -> u64 {
        let u: f64 = rng.gen();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }

    /// Next item in `0..n`, popular items scattered by a hash (YCSB's scrambled Zipfian).
    pub fn next(&self, rng: &mut SmallRng) -> u64 {
        fnv64(self.next_rank(rng)) % self.n
    }
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

fn fnv64(v: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in v.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_item_order_and_missing_keys_interleave() {
        assert_eq!(&key(7), b"\0\0\0\0\0\0\0\x0e00000000");
        assert_eq!(&digits(14), b"0000000000000014");
        for i in (0..100_000).step_by(37) {
            assert!(key(i) < missing_key(i));
            assert!(missing_key(i) < key(i + 1));
            assert!(digits(2 * i) < digits(2 * i + 1));
            assert!(digits(2 * i + 1) < digits(2 * i + 2));
        }
    }

    #[test]
    fn permutation_is_a_seeded_permutation() {
        let p = permutation(10_000, 42);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..10_000).collect::<Vec<_>>());
        assert_eq!(p, permutation(10_000, 42));
        assert_ne!(p, permutation(10_000, 43));
        assert_ne!(p, s);
    }

    #[test]
    fn values_are_half_compressible_and_seeded() {
        let mut a = [0u8; VALUE_LEN];
        let mut b = [0u8; VALUE_LEN];
        fill_value(&mut rng(1, 2), &mut a);
        fill_value(&mut rng(1, 2), &mut b);
        assert_eq!(a, b);
        assert_eq!(a[..50], a[50..]);
    }

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(100_000);
        let mut r = rng(7, 0);
        let mut zero = 0;
        for _ in 0..100_000 {
            let rank = z.next_rank(&mut r);
            assert!(rank < 100_000);
            if rank == 0 {
                zero += 1;
            }
            assert!(z.next(&mut r) < 100_000);
        }
        // With theta 0.99 and n = 1e5 the top item draws about 1/zeta(n) ≈ 8% of requests.
        assert!(zero > 4_000 && zero < 15_000, "rank 0 drawn {zero} times");
    }
}
