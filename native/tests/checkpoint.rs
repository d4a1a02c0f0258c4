//! `Db::checkpoint`: a consistent copy of a live database in another directory, taken while
//! writers go on, with tables hard-linked where the file system allows.
mod wasi_support;

use cairn::{Db, Error, Options, WriteOptions};
use wasi_support::TestDir;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_table_size(32 << 10)
}

#[test]
fn a_checkpoint_opens_and_holds_every_write_made_before_it() {
    let dir = TestDir::new("ckpt-src");
    let out = TestDir::new("ckpt-out");
    let dest = out.path().join("copy");
    let db = Db::open_with(dir.path(), opts()).expect("open");
    for i in 0..5_000u32 {
        db.put_with(format!("k{i:05}"), format!("v{i}"), WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    for i in 0..500u32 {
        db.delete_with(format!("k{i:05}"), WriteOptions::NO_SYNC)
            .expect("delete");
    }
    let report = db.checkpoint(&dest).expect("checkpoint");
    assert!(report.files_linked + report.files_copied >= 3);
    db.put("after", "x").expect("put after");

    let copy = Db::open_with(&dest, opts()).expect("open the copy");
    assert_eq!(copy.get("k00499").expect("get"), None);
    assert_eq!(
        copy.get("k04999").expect("get").as_deref(),
        Some(&b"v4999"[..])
    );
    assert_eq!(copy.iter().count(), 4_500);
    assert_eq!(copy.get("after").expect("get"), None);
    copy.close().expect("close copy");

    // A second checkpoint into the same (now non-empty) directory is refused.
    match db.checkpoint(&dest) {
        Err(Error::AlreadyExists(_)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    db.close().expect("close");
}

/// Tables are hard-linked (same file system), so the checkpoint costs no table copy and the
/// copy keeps them after the source compacted them away.
#[cfg(unix)]
#[test]
fn tables_are_hard_linked_and_survive_the_source_compacting_them_away() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new("ckpt-link-src");
    let out = TestDir::new("ckpt-link-out");
    let dest = out.path().join("copy");
    let db = Db::open_with(dir.path(), opts()).expect("open");
    for i in 0..20_000u32 {
        db.put_with(format!("k{i:05}"), [b'v'; 40], WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    // Let background compaction settle first: a table it removes after the checkpoint is
    // left with one link (the copy's), and the count below would race with it.
    db.wait_for_background_work().expect("settle");
    let tables = db.tables().len() as u64;
    let report = db.checkpoint(&dest).expect("checkpoint");
    assert_eq!(report.files_linked, tables);
    let linked = std::fs::read_dir(&dest)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
        .filter(|e| e.metadata().map(|m| m.nlink() == 2).unwrap_or(false))
        .count() as u64;
    assert_eq!(linked, tables);
    db.compact_range(None, None).expect("compact");
    db.close().expect("close");
    let copy = Db::open_with(&dest, opts()).expect("open copy");
    assert_eq!(copy.iter().count(), 20_000);
}

/// Writers run during the checkpoint; each writes its own keys in order (`w{t}-{i % 50}` =
/// `i`), so a consistent copy holds, per writer, exactly the writes before some cut-off.
#[cfg(not(target_os = "wasi"))]
#[test]
fn a_checkpoint_under_a_running_write_load_is_a_consistent_cut() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = TestDir::new("ckpt-load-src");
    let out = TestDir::new("ckpt-load-out");
    let db = Db::open_with(dir.path(), opts()).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    db.put_with(
                        format!("w{t}-{:02}", i % 50),
                        i.to_le_bytes(),
                        WriteOptions::NO_SYNC,
                    )
                    .expect("put");
                    i += 1;
                }
                i
            })
        })
        .collect();
    let mut copies = Vec::new();
    for c in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let dest = out.path().join(format!("copy{c}"));
        db.checkpoint(&dest).expect("checkpoint");
        copies.push(dest);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    db.close().expect("close");
    for dest in copies {
        let copy = Db::open_with(&dest, opts()).expect("open copy");
        for t in 0..4u32 {
            let vals: Vec<Option<u32>> = (0..50u32)
                .map(|j| {
                    copy.get(format!("w{t}-{j:02}"))
                        .expect("get")
                        .map(|v| u32::from_le_bytes(v.as_slice().try_into().expect("4 bytes")))
                })
                .collect();
            // The cut-off: one past the newest write of this writer in the copy.
            let cut = vals.iter().flatten().map(|&v| v + 1).max().unwrap_or(0);
            for (j, got) in vals.iter().enumerate() {
                let j = j as u32;
                // The newest i < cut with i % 50 == j, if any.
                let want = (cut > j).then(|| j + (cut - 1 - j) / 50 * 50);
                assert_eq!(*got, want, "writer {t} key {j} in {}", dest.display());
            }
        }
    }
}
