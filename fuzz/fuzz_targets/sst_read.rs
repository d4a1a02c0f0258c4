//! SSTable open (footer, index, filters, properties), point lookups, full iteration and
//! verification over arbitrary or mutated table files: never panics.
#![no_main]
#[path = "common.rs"]
mod common;

use cairn_core::iter::InternalIterator;
use cairn_core::table::Table;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let bytes = common::file_bytes(data, &common::samples().sst);
    let len = bytes.len() as u64;
    let f = common::mem_file(bytes);
    let Ok(table) = Table::open(f, 1, len, None) else {
        return;
    };
    let table = Arc::new(table);
    for k in [&b"key001"[..], b"key030", b"key059", b"zzz", b""] {
        let _ = table.may_contain(k);
        let _ = table.get(k, u64::MAX >> 8);
    }
    let mut it = table.iter(false);
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
    if it.seek_to_last().is_ok() {
        let _ = it.prev();
    }
    let _ = table.verify();
});
