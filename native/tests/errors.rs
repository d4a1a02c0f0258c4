//! Bad input gets a typed error, never a panic: oversized keys and values, a second opener,
//! writes after a failed sync, operations on a closed database.

mod wasi_support;

use cairn::{Db, Error, MemVfs, Options, WriteBatch, WriteOptions};
use cairn_vfs::fault::{FaultVfs, OpKind};
use cairn_vfs::ErrorKind;

#[test]
fn oversized_keys_and_values_are_rejected() {
    let opts = Options::default().max_key_size(100).max_value_size(1000);
    let db = Db::open_vfs(MemVfs::new(), opts).expect("open");
    assert!(matches!(
        db.put([1u8; 101], b"v"),
        Err(Error::KeyTooLarge { len: 101, max: 100 })
    ));
    assert!(matches!(
        db.put(b"k", [1u8; 1001]),
        Err(Error::ValueTooLarge {
            len: 1001,
            max: 1000
        })
    ));
    assert!(matches!(db.get([1u8; 101]), Err(Error::KeyTooLarge { .. })));
    let mut b = WriteBatch::new();
    b.put(b"ok", b"ok");
    b.delete(&[2u8; 500]);
    assert!(matches!(
        db.write(b, WriteOptions::SYNC),
        Err(Error::KeyTooLarge { .. })
    ));
    // The rejected batch left nothing behind, and the limits are inclusive.
    assert_eq!(db.get(b"ok").expect("get"), None);
    db.put([1u8; 100], [2u8; 1000]).expect("at the limits");
    // Defaults: 64 KiB keys, 64 MiB values.
    let db = Db::open_vfs(MemVfs::new(), Options::default()).expect("open");
    db.put(vec![7u8; 64 << 10], b"v").expect("64 KiB key");
    assert!(matches!(
        db.put(vec![7u8; (64 << 10) + 1], b"v"),
        Err(Error::KeyTooLarge { .. })
    ));
}

#[test]
fn invalid_options_are_rejected() {
    let opts = Options::default().write_buffer_size(10);
    assert!(matches!(
        Db::open_vfs(MemVfs::new(), opts),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_second_opener_in_this_process_gets_locked() {
    let dir = wasi_support::TestDir::new("errors");
    let db = Db::open(dir.path()).expect("open");
    assert!(matches!(Db::open(dir.path()), Err(Error::Locked(_))));
    db.close().expect("close");
    drop(db);
    let again = Db::open(dir.path()).expect("reopen after the last handle is gone");
    drop(again);
    // In-memory databases lock too.
    let vfs = MemVfs::new();
    let a = Db::open_vfs(vfs.clone(), Options::default()).expect("open");
    assert!(matches!(
        Db::open_vfs(vfs, Options::default()),
        Err(Error::Locked(_))
    ));
    drop(a);
}

/// Run as a child process by `a_second_opener_in_another_process_gets_locked`.
#[test]
fn child_tries_to_open() {
    let Ok(path) = std::env::var("CAIRN_LOCK_CHILD_DIR") else {
        return; // not running as the child
    };
    match Db::open(&path) {
        Err(Error::Locked(_)) => std::process::exit(42),
        other => {
            eprintln!("child expected Locked, got {other:?}");
            std::process::exit(1)
        }
    }
}

#[cfg(unix)]
#[test]
fn a_second_opener_in_another_process_gets_locked() {
    let dir = wasi_support::TestDir::new("errors");
    let db = Db::open(dir.path()).expect("open");
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_tries_to_open", "--nocapture"])
        .env("CAIRN_LOCK_CHILD_DIR", dir.path())
        .status()
        .expect("spawn child");
    assert_eq!(status.code(), Some(42), "the child must see Error::Locked");
    drop(db);
}

#[test]
fn a_missing_database_is_not_created_when_asked_not_to() {
    let dir = wasi_support::TestDir::new("errors");
    let opts = Options::default().create_if_missing(false);
    assert!(matches!(
        Db::open_with(dir.path().join("nope"), opts.clone()),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        Db::open_with(dir.path(), opts),
        Err(Error::NotFound(_))
    ));
}

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

#[test]
fn operations_on_a_closed_database_fail_with_closed() {
    let db = Db::open_vfs(MemVfs::new(), Options::default()).expect("open");
    db.put(b"k", b"v").expect("put");
    let other_handle = db.clone();
    db.close().expect("close");
    db.close().expect("closing twice is fine");
    assert!(matches!(other_handle.put(b"k", b"v"), Err(Error::Closed)));
    assert!(matches!(other_handle.get(b"k"), Err(Error::Closed)));
    assert!(matches!(
        other_handle.iter().next(),
        Some(Err(Error::Closed))
    ));
    assert!(matches!(other_handle.flush(), Err(Error::Closed)));
}

#[cfg(not(target_os = "wasi"))]
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
