use cairn::{Db, MemVfs, Options, WriteOptions};

#[test]
fn put_get_flush_reopen() {
    let vfs = MemVfs::new();
    let opts = Options::default().write_buffer_size(64 << 10);
    {
        let db = Db::open_vfs(vfs.clone(), opts.clone()).expect("open");
        for i in 0..20_000u32 {
            db.put_with(
                format!("key{i:08}").as_bytes(),
                format!("value{i}").as_bytes(),
                WriteOptions::NO_SYNC,
            )
            .expect("put");
        }
        db.delete(b"key00000005").expect("delete");
        db.flush().expect("flush");
        assert_eq!(
            db.get(b"key00000007").expect("get").as_deref(),
            Some(&b"value7"[..])
        );
        assert_eq!(db.get(b"key00000005").expect("get"), None);
        assert_eq!(db.iter().count(), 19_999);
        assert_eq!(db.iter().rev().count(), 19_999);
        db.close().expect("close");
    }
    let db = Db::open_vfs(vfs, opts).expect("reopen");
    assert_eq!(
        db.get(b"key00019999").expect("get").as_deref(),
        Some(&b"value19999"[..])
    );
    assert_eq!(db.get(b"key00000005").expect("get"), None);
    let all: Vec<_> = db.iter().map(|r| r.expect("entry").0).collect();
    assert_eq!(all.len(), 19_999);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let stats = db.stats();
    eprintln!("{stats:?}");
}
