//! Range tombstones: decoding a range-deletion block (`range_del::decode_block`) never panics;
//! a block that decodes re-encodes to the same bytes; fragmenting the tombstones answers every
//! lookup exactly as a brute-force scan of the tombstones does (keys from the input), and the
//! fragments' stored form fragments to the same fragments.
#![no_main]

use cairn_core::range_del::{decode_block, encode_block, Fragments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ts) = decode_block(data, "fuzz", 0) else {
        return;
    };
    assert_eq!(encode_block(&ts), data, "decode/encode round trip");
    let f = Fragments::new(ts.clone());
    let probes: Vec<&[u8]> = ts
        .iter()
        .flat_map(|t| [t.start.as_slice(), t.end.as_slice()])
        .chain([&[][..], &[0xFF, 0xFF][..]])
        .take(64)
        .collect();
    for k in probes {
        for read in [0u64, 1, 1 << 20, u64::MAX] {
            let want = ts
                .iter()
                .filter(|t| t.start.as_slice() <= k && k < t.end.as_slice() && t.seq <= read)
                .map(|t| t.seq)
                .max()
                .unwrap_or(0);
            assert_eq!(f.max_covering(k, read), want, "fragment lookup");
        }
    }
    let again = Fragments::new(f.tombstones().collect());
    assert_eq!(again.fragments(), f.fragments(), "re-fragmenting");
});
