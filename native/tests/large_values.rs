//! The largest accepted key and value survive the WAL, a flush into a table, and a reopen.

use cairn::{Db, Error, MemVfs, Options};

#[test]
fn a_64_mib_value_and_a_64_kib_key_round_trip_through_wal_table_and_reopen() {
    let vfs = MemVfs::new();
    let opts = Options::default().background_threads(0);
    let big: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let long_key = vec![b'k'; 64 << 10];
    {
        let db = Db::open_vfs(vfs.clone(), opts.clone()).expect("open");
        db.put(b"big", &big).expect("64 MiB value");
        db.put(&long_key, b"long key").expect("64 KiB key");
        assert!(matches!(
            db.put(b"bigger", vec![0u8; (64 << 20) + 1]),
            Err(Error::ValueTooLarge { .. })
        ));
        drop(db); // recovered from the WAL
    }
    {
        let db = Db::open_vfs(vfs.clone(), opts.clone()).expect("reopen from WAL");
        assert_eq!(db.get(b"big").expect("get").as_deref(), Some(&big[..]));
        db.flush().expect("flush into a table");
        db.close().expect("close");
    }
    let db = Db::open_vfs(vfs, opts).expect("reopen from the table");
    assert_eq!(db.get(b"big").expect("get").as_deref(), Some(&big[..]));
    assert_eq!(
        db.get(&long_key).expect("get").as_deref(),
        Some(&b"long key"[..])
    );
    let keys: Vec<Vec<u8>> = db.iter().map(|e| e.expect("entry").0).collect();
    assert_eq!(keys.len(), 2);
}

#[test]
fn limits_above_what_a_table_block_can_hold_are_refused() {
    for opts in [
        Options::default().max_value_size((64 << 20) + 1),
        Options::default().max_key_size((1 << 20) + 1),
    ] {
        assert!(matches!(
            Db::open_vfs(MemVfs::new(), opts),
            Err(Error::InvalidArgument(_))
        ));
    }
}
