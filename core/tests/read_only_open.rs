//! `Db::open_read_only`: no lock, not one byte written, torn tails dropped in memory only,
//! works while a writer holds the database, several readers at once, writes refused; and
//! `Db::open` leaves unknown files alone and a failed open leaves the directory as it was.

use cairn_core::db::Db;
use cairn_core::{Error, Options, WriteOptions};
use cairn_vfs::{File, MemVfs, Vfs};
use std::collections::BTreeMap;

fn small() -> Options {
    let mut o = Options::default();
    o.write_buffer_size = 8 << 10;
    o.target_table_size = 4 << 10;
    o
}

fn files(vfs: &MemVfs) -> BTreeMap<String, u32> {
    vfs.list()
        .expect("list")
        .into_iter()
        .map(|n| {
            let b = vfs.open(&n).expect("open").read_all().expect("read");
            (n, cairn_vfs::crc32::hash(&b))
        })
        .collect()
}

fn fill(db: &mut Db<MemVfs>, from: u32, to: u32) {
    for i in from..to {
        db.put(
            format!("key{i:05}").as_bytes(),
            format!("value{i}").as_bytes(),
            WriteOptions::SYNC,
        )
        .expect("put");
    }
}

#[test]
fn a_read_only_open_writes_nothing_and_sees_the_state_as_of_its_open() {
    let vfs = MemVfs::new();
    let mut writer = Db::open(vfs.clone(), small()).expect("open");
    fill(&mut writer, 0, 600);
    writer.flush().expect("flush");
    fill(&mut writer, 600, 650); // in the WAL only
    let before = files(&vfs);

    // Two readers while the writer holds the lock.
    let r1 = Db::open_read_only(vfs.clone(), small()).expect("reader 1");
    let r2 = Db::open_read_only(vfs.clone(), small()).expect("reader 2");
    assert_eq!(files(&vfs), before, "a read-only open wrote");
    for r in [&r1, &r2] {
        assert!(r.is_read_only());
        assert!(r.recovery_report().read_only);
        assert_eq!(
            r.get(b"key00042").expect("get").as_deref(),
            Some(&b"value42"[..])
        );
        assert_eq!(
            r.get(b"key00649").expect("get").as_deref(),
            Some(&b"value649"[..])
        );
        let n = r
            .range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
            .expect("range")
            .count();
        assert_eq!(n, 650);
    }

    // The writer goes on: compacts (removing tables the readers opened) and writes more.
    fill(&mut writer, 650, 1200);
    writer.compact_range(None, None).expect("compact");
    writer
        .delete(b"key00042", WriteOptions::SYNC)
        .expect("delete");
    assert_eq!(
        r1.get(b"key00042").expect("get").as_deref(),
        Some(&b"value42"[..])
    );
    assert_eq!(
        r1.get(b"key01000").expect("get"),
        None,
        "state as of its open"
    );
    let n = r1
        .range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
        .expect("range after the writer compacted")
        .count();
    assert_eq!(n, 650);

    // Every write path is refused with a typed error, and still nothing is written.
    let mut r1 = r1;
    let before = files(&vfs);
    assert!(matches!(
        r1.put(b"k", b"v", WriteOptions::SYNC),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(
        r1.delete(b"k", WriteOptions::SYNC),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(r1.flush(), Err(Error::ReadOnly(_))));
    assert!(matches!(
        r1.compact_range(None, None),
        Err(Error::ReadOnly(_))
    ));
    assert!(matches!(r1.sync_wal(), Err(Error::ReadOnly(_))));
    assert!(!r1.has_pending_work());
    assert!(!r1.step().expect("step"));
    r1.close().expect("close");
    drop(r2);
    assert_eq!(files(&vfs), before);
    writer.close().expect("writer close");
}

#[test]
fn a_torn_tail_is_dropped_in_memory_and_left_on_disk() {
    let vfs = MemVfs::new();
    {
        let mut db = Db::open(vfs.clone(), small()).expect("open");
        fill(&mut db, 0, 20);
        // Crash: dropped without close.
    }
    let wal = vfs
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .max()
        .expect("wal");
    let mut bytes = vfs.open(&wal).expect("open").read_all().expect("read");
    bytes.truncate(bytes.len() - 4);
    vfs.put_file(&wal, bytes);
    let before = files(&vfs);
    let r = Db::open_read_only(vfs.clone(), small()).expect("read-only open");
    assert!(r.recovery_report().torn_wal_tail.is_some());
    assert_eq!(
        r.get(b"key00018").expect("get").as_deref(),
        Some(&b"value18"[..])
    );
    assert_eq!(r.get(b"key00019").expect("get"), None);
    assert_eq!(files(&vfs), before, "the torn tail was truncated on disk");
    // A read-write open decides the same and then repairs.
    let db = Db::open(vfs.clone(), small()).expect("open");
    assert_eq!(
        db.recovery_report().torn_wal_tail.as_ref().map(|t| t.1),
        r.recovery_report().torn_wal_tail.as_ref().map(|t| t.1)
    );
}

#[test]
fn no_database_is_not_found_and_creates_nothing() {
    let vfs = MemVfs::new();
    assert!(matches!(
        Db::open_read_only(vfs.clone(), small()),
        Err(Error::NotFound(_))
    ));
    assert!(vfs.list().expect("list").is_empty());
}

#[test]
fn unknown_files_survive_open_and_compaction() {
    let vfs = MemVfs::new();
    let mut db = Db::open(vfs.clone(), small()).expect("open");
    fill(&mut db, 0, 300);
    db.close().expect("close");
    drop(db);
    let strays = [
        ("000900.sst", b"my own notes, not a table".to_vec()),
        ("000003.wal", b"not a WAL either".to_vec()),
        ("MANIFEST-000004", b"nor a manifest".to_vec()),
        ("README.txt", b"hello".to_vec()),
    ];
    for (n, b) in &strays {
        vfs.put_file(n, b.clone());
    }
    for _ in 0..2 {
        let mut db = Db::open(vfs.clone(), small()).expect("open with strays");
        fill(&mut db, 300, 900);
        db.compact_range(None, None).expect("compact");
        let unknown = &db.recovery_report().unknown_files;
        for (n, _) in &strays {
            assert!(
                unknown.contains(&n.to_string()),
                "{n} not reported: {unknown:?}"
            );
        }
        assert_eq!(
            db.get(b"key00005").expect("get").as_deref(),
            Some(&b"value5"[..])
        );
        db.close().expect("close");
    }
    for (n, b) in &strays {
        assert_eq!(
            &vfs.open(n).expect(n).read_all().expect("read"),
            b,
            "{n} changed"
        );
    }
}

#[test]
fn a_failed_open_leaves_the_directory_as_it_found_it() {
    // Garbage without a current pointer: tables but no CURRENT.
    let vfs = MemVfs::new();
    vfs.put_file("000007.sst", vec![1, 2, 3]);
    vfs.put_file("MANIFEST-000002", b"CAIRNMAN-leftover".to_vec());
    vfs.put_file("notes.txt", b"x".to_vec());
    let before = files(&vfs);
    assert!(matches!(
        Db::open(vfs.clone(), small()),
        Err(Error::Corruption { .. })
    ));
    assert_eq!(files(&vfs), before);
    // create_if_missing off on an empty directory.
    let empty = MemVfs::new();
    let mut o = small();
    o.create_if_missing = false;
    assert!(matches!(
        Db::open(empty.clone(), o),
        Err(Error::NotFound(_))
    ));
    assert!(empty.list().expect("list").is_empty());
}
