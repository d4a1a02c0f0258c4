//! Write-batch decoding (`BatchRef::parse`, `validate`, `iter`): never panics, and a batch
//! that validates iterates exactly `count` records.
#![no_main]

use cairn_core::batch::BatchRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(b) = BatchRef::parse(data) else {
        return;
    };
    let valid = b.validate();
    let mut n = 0u64;
    for r in b.iter().take(1 << 20) {
        match r {
            Ok(rec) => {
                let _ = (rec.key.len(), rec.value.len());
                n += 1;
            }
            Err(_) => {
                assert!(!valid, "a validated batch failed to iterate");
                break;
            }
        }
    }
    if valid {
        assert_eq!(n, u64::from(b.count), "validated batch count mismatch");
    }
});
