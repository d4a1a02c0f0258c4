//! Who may open a database: a second opener in this process or another gets `Locked`, a
//! missing database is not created when asked not to, and a closed database refuses every
//! operation with `Closed`.

mod wasi_support;

use cairn::{Db, Error, MemVfs, Options};

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
