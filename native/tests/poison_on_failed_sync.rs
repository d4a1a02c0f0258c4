//! A failed sync poisons the database for writes but not for reads and loses nothing
//! acknowledged; a full disk during a write is a typed error.

use cairn::{Db, Error, MemVfs, Options, WriteOptions};
use cairn_vfs::fault::{FaultVfs, OpKind};
use cairn_vfs::ErrorKind;

#[test]
fn a_failed_sync_poisons_writes_but_not_reads_and_loses_nothing_acknowledged() {
    let mem = MemVfs::new();
    let vfs = FaultVfs::new(mem.clone());
    let opts = Options::default().background_threads(0);
    let db = Db::open_vfs(vfs.clone(), opts.clone()).expect("open");
    for i in 0..100u32 {
        db.put(format!("k{i:03}").as_bytes(), b"acked")
            .expect("put");
    }
    vfs.fail_nth(OpKind::Sync, 1, ErrorKind::Io);
    assert!(matches!(db.put(b"doomed", b"x"), Err(Error::Io(_))));
    // Every later write is refused, synced or not; reads go on.
    assert!(matches!(db.put(b"later", b"x"), Err(Error::Poisoned(_))));
    assert!(matches!(
        db.put_with(b"later", b"x", WriteOptions::NO_SYNC),
        Err(Error::Poisoned(_))
    ));
    assert!(matches!(db.delete(b"k000"), Err(Error::Poisoned(_))));
    assert_eq!(
        db.get(b"k050").expect("read").as_deref(),
        Some(&b"acked"[..])
    );
    assert_eq!(
        db.get(b"doomed").expect("read"),
        None,
        "a failed write is not visible"
    );
    drop(db);
    vfs.clear_faults();
    let db = Db::open_vfs(vfs, opts).expect("reopen");
    for i in 0..100u32 {
        assert_eq!(
            db.get(format!("k{i:03}").as_bytes())
                .expect("get")
                .as_deref(),
            Some(&b"acked"[..])
        );
    }
    db.put(b"after", b"reopen").expect("writable again");
}

#[test]
fn no_space_during_a_write_is_a_typed_error() {
    let vfs = FaultVfs::new(MemVfs::new());
    let db = Db::open_vfs(vfs.clone(), Options::default()).expect("open");
    db.put(b"a", b"1").expect("put");
    vfs.fail_nth(OpKind::Write, 1, ErrorKind::NoSpace);
    match db.put(b"b", b"2") {
        Err(Error::Io(e)) => assert_eq!(e.kind(), ErrorKind::NoSpace),
        other => panic!("{other:?}"),
    }
    assert_eq!(db.get(b"a").expect("get").as_deref(), Some(&b"1"[..]));
}
