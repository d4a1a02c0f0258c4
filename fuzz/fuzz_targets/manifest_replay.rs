//! Manifest replay (`cairn_core::manifest::replay`) and applying the edits to a version:
//! never panics.
#![no_main]
#[path = "common.rs"]
mod common;

use cairn_core::manifest;
use cairn_core::version::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = common::file_bytes(data, &common::samples().manifest);
    let f = common::mem_file(bytes);
    if let Ok(r) = manifest::replay(&*f, "MANIFEST-000001") {
        let mut v = Version::empty(7);
        for e in &r.edits {
            match v.apply(e) {
                Ok(n) => v = n,
                Err(_) => break,
            }
        }
        let _ = v.snapshot_edit();
    }
});
