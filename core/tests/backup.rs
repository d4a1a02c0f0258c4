//! Backups: a database as one stream restores to an equal database; every flipped bit and
//! every truncation of the stream is refused with a typed error and leaves the destination
//! empty; a restore never writes into a directory that holds files.

use cairn_core::{restore, Db, Error, Options, WriteOptions};
use cairn_vfs::{MemVfs, Vfs};
use std::collections::BTreeMap;
use std::ops::Bound;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(8 << 10)
        .block_size(512)
}

fn contents<V: Vfs + Clone>(db: &Db<V>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.range((Bound::Unbounded, Bound::Unbounded))
        .expect("iter")
        .map(|r| r.expect("entry"))
        .collect()
}

/// A small database with a table, a WAL tail and a deletion; returns it and its backup.
fn small_backup(keys: u32) -> (Db<MemVfs>, Vec<u8>) {
    let mut db = Db::open(MemVfs::new(), opts()).expect("open");
    for i in 0..keys {
        db.put(
            format!("k{i:04}").as_bytes(),
            &[b'v'; 20],
            WriteOptions::NO_SYNC,
        )
        .expect("put");
    }
    db.flush().expect("flush");
    db.delete(b"k0003", WriteOptions::NO_SYNC).expect("delete");
    db.put(b"tail", b"in the WAL", WriteOptions::NO_SYNC)
        .expect("put");
    let mut out = Vec::new();
    let report = db.backup_to(&mut out).expect("backup");
    assert_eq!(report.stream_bytes as usize, out.len());
    (db, out)
}

#[test]
fn a_backup_restores_to_an_equal_database() {
    let (db, bytes) = small_backup(2_000);
    let dest = MemVfs::new();
    let report = restore(&mut bytes.as_slice(), &dest).expect("restore");
    assert_eq!(report.sequence, db.visible_sequence());
    let copy = Db::open(dest, opts()).expect("open restored");
    assert_eq!(contents(&copy), contents(&db));
    assert_eq!(copy.get(b"k0003").expect("get"), None);
}

#[test]
fn every_flipped_bit_of_a_backup_is_refused_and_leaves_the_destination_empty() {
    let (_db, bytes) = small_backup(40);
    let (mut refused, mut unsupported) = (0u64, 0u64);
    for bit in 0..bytes.len() * 8 {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let dest = MemVfs::new();
        match restore(&mut damaged.as_slice(), &dest) {
            Err(Error::Corruption { .. }) => refused += 1,
            Err(Error::UnsupportedFormat(_)) => unsupported += 1,
            other => panic!("bit {bit} of {}: {other:?}", bytes.len() * 8),
        }
        assert!(
            dest.list().expect("list").is_empty(),
            "bit {bit}: restore left files"
        );
    }
    eprintln!(
        "{} bits flipped: {refused} refused as corruption, {unsupported} as unsupported",
        bytes.len() * 8
    );
}

#[test]
fn every_truncation_and_any_trailing_garbage_is_refused() {
    let (_db, bytes) = small_backup(40);
    for len in 0..bytes.len() {
        let dest = MemVfs::new();
        let cut = &bytes[..len];
        match restore(&mut &cut[..], &dest) {
            Err(Error::Corruption { .. }) => {}
            other => panic!("cut at {len} of {}: {other:?}", bytes.len()),
        }
        assert!(dest.list().expect("list").is_empty(), "cut at {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        restore(&mut longer.as_slice(), &MemVfs::new()),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn a_restore_never_writes_into_a_directory_that_holds_files() {
    let (_db, bytes) = small_backup(10);
    let dest = MemVfs::new();
    let mut other = Db::open(dest.clone(), opts()).expect("other");
    other.put(b"mine", b"1", WriteOptions::SYNC).expect("put");
    drop(other);
    let before = dest.list().expect("list");
    assert!(matches!(
        restore(&mut bytes.as_slice(), &dest),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(dest.list().expect("list"), before);
    let other = Db::open(dest, opts()).expect("reopen");
    assert_eq!(other.get(b"mine").expect("get").as_deref(), Some(&b"1"[..]));
}
