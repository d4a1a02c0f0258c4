//! WAL replay (`cairn_core::wal::replay`) over arbitrary or mutated WAL files, in both
//! recovery modes: never panics; every batch handed out decodes.
#![no_main]
#[path = "common.rs"]
mod common;

use cairn_core::wal;
use cairn_core::RecoveryMode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = common::file_bytes(data, &common::samples().wal);
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::AbsoluteConsistency] {
        for newest in [true, false] {
            let f = common::mem_file(bytes.clone());
            let _ = wal::replay(&*f, "000001.wal", mode, newest, 0, |b| {
                for r in b.iter() {
                    let r = r?;
                    let _ = (r.key.len(), r.value.len());
                }
                Ok(())
            });
        }
    }
});
