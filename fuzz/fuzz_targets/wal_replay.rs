//! WAL replay (`cairn_core::wal::replay` and the read-only `wal::scan`) over arbitrary or
//! mutated WAL files, in both recovery modes: never panics; every batch handed out decodes;
//! `scan` and `replay` reach the same verdict, and `replay` truncates exactly a reported torn
//! tail; a WAL ended by a clean close with exactly one flipped bit is always `Corruption`
//! (never taken for a torn tail).
#![no_main]
#[path = "common.rs"]
mod common;

use cairn_core::wal;
use cairn_core::{Error, RecoveryMode};
use cairn_vfs::File;
use libfuzzer_sys::fuzz_target;

fn flipped_bits(a: &[u8], b: &[u8]) -> Option<u32> {
    (a.len() == b.len()).then(|| a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum())
}

fuzz_target!(|data: &[u8]| {
    let samples = common::samples();
    // Second byte odd: mutate the cleanly closed WAL instead of the crashed one.
    let base = if data.get(1).is_some_and(|b| b & 1 == 1) {
        &samples.wal_closed
    } else {
        &samples.wal
    };
    let bytes = common::file_bytes(data, base);
    let one_flip_of_closed =
        base == &samples.wal_closed && flipped_bits(&bytes, base) == Some(1);
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::AbsoluteConsistency] {
        for newest in [true, false] {
            let check = |b: cairn_core::batch::BatchRef<'_>| {
                for r in b.iter() {
                    let r = r?;
                    let _ = (r.key.len(), r.value.len());
                }
                Ok(())
            };
            let f = common::mem_file(bytes.clone());
            let scanned = wal::scan(&*f, "000001.wal", mode, newest, 0, check);
            assert_eq!(f.read_all().ok().as_deref(), Some(&bytes[..]), "scan wrote");
            let replayed = wal::replay(&*f, "000001.wal", mode, newest, 0, check);
            match (&scanned, &replayed) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b);
                    if a.torn_tail.is_some() {
                        assert_eq!(f.len().ok(), Some(a.valid_len.min(bytes.len() as u64)));
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code()),
                _ => panic!("scan {scanned:?} but replay {replayed:?}"),
            }
            if one_flip_of_closed {
                assert!(
                    matches!(scanned, Err(Error::Corruption { .. })),
                    "one flipped bit in a cleanly closed WAL: {scanned:?}"
                );
            }
        }
    }
});
