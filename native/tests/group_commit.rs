//! Group commit: concurrent synced writers share fsyncs, and every write is committed.
//! Needs threads, so not on WASI.
#![cfg(not(target_os = "wasi"))]

mod wasi_support;

use cairn::{Db, Options};
use cairn_vfs::fault::FaultVfs;

#[test]
fn group_commit_shares_fsyncs_between_writers() {
    let dir = wasi_support::TestDir::new("errors");
    let vfs = FaultVfs::new(cairn::StdVfs::new(dir.path()).expect("vfs"));
    let db = Db::open_vfs(vfs.clone(), Options::default()).expect("open");
    vfs.reset_counters();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..1000u32 {
                    db.put(format!("t{t}-{i:04}").as_bytes(), b"synced")
                        .expect("put");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let syncs = vfs.sync_count();
    eprintln!("8 threads x 1000 synced writes used {syncs} syncs");
    assert!(
        syncs < 4000,
        "{syncs} syncs for 8000 synced writes: no group commit"
    );
    let stats = db.stats();
    assert_eq!(stats.batches, 8000);
    assert!(stats.commits < 8000);
    for t in 0..8 {
        assert!(db
            .get(format!("t{t}-0999").as_bytes())
            .expect("get")
            .is_some());
    }
}
