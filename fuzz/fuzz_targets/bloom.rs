//! Bloom filter reader over arbitrary filter bytes: never panics. Plus: a filter built from
//! the input's keys never says "absent" for one of them.
#![no_main]

use cairn_core::table::bloom::{FilterBuilder, BloomFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = BloomFilter::new(data.to_vec());
    for k in data.chunks(5).take(64) {
        let _ = f.may_contain(k);
    }
    let bits = u32::from(data.first().copied().unwrap_or(10) % 40);
    let mut b = FilterBuilder::new(bits);
    let keys: Vec<&[u8]> = data.chunks(3).take(256).collect();
    for k in &keys {
        b.add(k);
    }
    let built = BloomFilter::new(b.finish());
    for k in &keys {
        assert!(built.may_contain(k), "false negative");
    }
});
