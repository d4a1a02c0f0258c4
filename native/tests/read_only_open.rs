//! `cairn::Db::open_read_only` on a real directory: no LOCK taken, not one byte written
//! (every file checksummed before and after), works while a writer holds the database open,
//! several readers at once, writes refused with `Error::ReadOnly`. Runs natively and under
//! WASI.

mod wasi_support;

use cairn::{Db, Error};
use std::collections::BTreeMap;
use std::path::Path;
use wasi_support::TestDir;

fn checksums(dir: &Path) -> BTreeMap<String, u32> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let b = std::fs::read(e.path()).expect("read");
            (
                e.file_name().to_string_lossy().into_owned(),
                crc32fast::hash(&b),
            )
        })
        .collect()
}

#[test]
fn readers_beside_a_writer_write_nothing() {
    let t = TestDir::new("ro-open");
    let path = t.join("db");
    let writer = Db::open(&path).expect("open");
    for i in 0..200u32 {
        writer
            .put(format!("k{i:04}").as_bytes(), format!("v{i}").as_bytes())
            .expect("put");
    }
    writer.flush().expect("flush");
    writer.put(b"in-the-wal", b"yes").expect("put");
    let before = checksums(&path);

    let r1 = Db::open_read_only(&path).expect("reader while the writer holds the lock");
    let r2 = Db::open_read_only(&path).expect("a second reader");
    for r in [&r1, &r2] {
        assert_eq!(r.get(b"k0042").expect("get").as_deref(), Some(&b"v42"[..]));
        assert_eq!(
            r.get(b"in-the-wal").expect("get").as_deref(),
            Some(&b"yes"[..])
        );
        assert_eq!(r.iter().count(), 201);
        assert!(matches!(r.put(b"x", b"y"), Err(Error::ReadOnly(_))));
        assert!(matches!(r.flush(), Err(Error::ReadOnly(_))));
    }
    assert_eq!(checksums(&path), before, "a read-only open wrote");
    writer.put(b"later", b"1").expect("writer still writes");
    assert_eq!(r1.get(b"later").expect("get"), None, "state as of its open");
    drop(r1);
    drop(r2);
    writer.close().expect("close");
    drop(writer);

    // With no writer: still nothing written, no LOCK created where there was none.
    std::fs::remove_file(path.join("LOCK")).ok();
    let without_lock = checksums(&path);
    let r = Db::open_read_only(&path).expect("reader");
    assert_eq!(r.get(b"later").expect("get").as_deref(), Some(&b"1"[..]));
    r.close().expect("close");
    drop(r);
    assert_eq!(
        checksums(&path),
        without_lock,
        "a read-only open wrote or created a file"
    );
}

#[test]
fn a_missing_database_is_not_found_and_nothing_is_created() {
    let t = TestDir::new("ro-missing");
    let path = t.join("nothing-here");
    assert!(matches!(Db::open_read_only(&path), Err(Error::NotFound(_))));
    assert!(!path.exists());
}
