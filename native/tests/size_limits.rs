//! Bad input gets a typed error, never a panic: keys and values over the size limits (also
//! inside a batch, which then leaves nothing behind), and invalid options.

use cairn::{Db, Error, MemVfs, Options, WriteBatch, WriteOptions};

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
    b.delete([2u8; 500]);
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
