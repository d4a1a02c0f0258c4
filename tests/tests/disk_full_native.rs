//! The native database (group commit, background flush and compaction threads) on a full disk:
//! writes fail with `NoSpace` while it is full, reads go on, and once space is freed writes
//! resume in the same handle — no reopen — with every acknowledged write still there, also
//! after a crash.

use cairn::{Db, Error, Options, WriteOptions};
use cairn_vfs::fault::{CrashMode, FaultVfs};
use cairn_vfs::{ErrorKind, MemVfs};

fn opts(threads: usize) -> Options {
    Options::default()
        .write_buffer_size(32 << 10)
        .target_table_size(16 << 10)
        .l0_compaction_trigger(2)
        .background_threads(threads)
}

fn is_no_space(r: &Result<(), Error>) -> bool {
    matches!(r, Err(Error::Io(e)) if e.kind() == ErrorKind::NoSpace)
}

fn run(threads: usize) {
    let what = format!("{threads} background threads");
    let vfs = FaultVfs::new(MemVfs::new());
    let db = Db::open_vfs(vfs.clone(), opts(threads)).expect("open");
    let mut acked = Vec::new();
    let value = |i: u32| format!("value-{i}-{}", "x".repeat(100));
    for i in 0..1500u32 {
        let sync = if i % 10 == 0 {
            WriteOptions::SYNC
        } else {
            WriteOptions::NO_SYNC
        };
        db.put_with(format!("k{i:05}"), value(i), sync)
            .expect("put");
        acked.push(i);
    }
    vfs.set_disk_full(true);
    // The disk fills: the next write that needs it fails (a synced one at the latest).
    let mut failed = 0;
    for i in 1500..1600u32 {
        let r = db.put_with(format!("k{i:05}"), value(i), WriteOptions::SYNC);
        match r {
            Ok(()) => acked.push(i),
            r if is_no_space(&r) => failed += 1,
            Err(e) => panic!("{what}: write {i} on a full disk: {e:?}"),
        }
    }
    assert_eq!(
        failed, 100,
        "{what}: every synced write on a full disk fails"
    );
    for &i in acked.iter().step_by(37) {
        assert_eq!(
            db.get(format!("k{i:05}")).expect("get"),
            Some(value(i).into_bytes()),
            "{what}: reads go on while the disk is full"
        );
    }
    vfs.set_disk_full(false);
    // Space is back: the same handle writes again.
    for i in 2000..3000u32 {
        db.put_with(format!("k{i:05}"), value(i), WriteOptions::NO_SYNC)
            .unwrap_or_else(|e| panic!("{what}: write {i} after space came back: {e:?}"));
        acked.push(i);
    }
    db.put("last", "synced").expect("synced put");
    db.wait_for_background_work()
        .expect("background work resumed");
    assert!(db.stats().resumes >= 1, "{what}: {:?}", db.stats().resumes);
    let check = |db: &Db<FaultVfs<MemVfs>>, when: &str| {
        for &i in &acked {
            assert_eq!(
                db.get(format!("k{i:05}")).expect("get"),
                Some(value(i).into_bytes()),
                "{what}, {when}: acknowledged write {i}"
            );
        }
        for i in 1500..1600u32 {
            if !acked.contains(&i) {
                // A failed write's outcome is unknown; if it is there, it is whole.
                if let Some(v) = db.get(format!("k{i:05}")).expect("get") {
                    assert_eq!(v, value(i).into_bytes());
                }
            }
        }
        assert_eq!(db.get("last").expect("get"), Some(b"synced".to_vec()));
    };
    check(&db, "resumed");
    // Crash: drop the handle as a killed process would leave the files.
    drop(db);
    vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    let db = Db::open_vfs(vfs.clone(), opts(threads)).expect("reopen");
    check(&db, "after a crash");
    db.close().expect("close");
}

#[test]
fn a_full_disk_resumes_without_reopen_with_background_threads() {
    run(2);
}

#[test]
fn a_full_disk_resumes_without_reopen_with_inline_background_work() {
    run(0);
}
