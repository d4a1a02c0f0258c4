//! Data/index block decoding (`Block::new`) and iteration in both directions plus seeks:
//! never panics, never loops forever.
#![no_main]

use cairn_core::iter::InternalIterator;
use cairn_core::key;
use cairn_core::table::Block;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::new(data.to_vec(), 1, 0) else {
        return;
    };
    let block = Arc::new(block);
    let mut it = block.iter();
    let mut steps = 0;
    if it.seek_to_first().is_ok() {
        while it.valid() && steps < 100_000 {
            let _ = (it.key().len(), it.value().len());
            if it.next().is_err() {
                break;
            }
            steps += 1;
        }
    }
    steps = 0;
    if it.seek_to_last().is_ok() {
        while it.valid() && steps < 100_000 {
            if it.prev().is_err() {
                break;
            }
            steps += 1;
        }
    }
    let target = key::seek_key(data.get(..data.len().min(8)).unwrap_or(b""), 7);
    let _ = it.seek(&target);
    let _ = it.seek_for_prev(&target);
});
