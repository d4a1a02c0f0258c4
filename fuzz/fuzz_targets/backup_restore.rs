//! Backup restore (`cairn_core::restore`) of arbitrary bytes: never panics; a refused stream
//! leaves the destination empty; an accepted one opens (or is refused by open) without a panic.
#![no_main]

use cairn_core::{restore, Db, Options};
use cairn_vfs::{MemVfs, Vfs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dest = MemVfs::new();
    let mut src = data;
    match restore(&mut src, &dest) {
        Ok(_) => {
            let _ = Db::open(dest, Options::default());
        }
        Err(_) => {
            assert!(
                dest.list().map(|l| l.is_empty()).unwrap_or(false),
                "a refused restore left files"
            );
        }
    }
});
