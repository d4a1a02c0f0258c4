//! `Db::backup` / `cairn::restore`: a database as one stream through a file, restored into a
//! directory; damaged streams and non-empty destinations are refused.
mod wasi_support;

use cairn::{Db, Error, Options, WriteOptions};
use wasi_support::TestDir;

#[test]
fn a_backup_file_restores_into_an_equal_database_and_damage_is_refused() {
    let t = TestDir::new("backup");
    let src = t.path().join("src");
    let file = t.path().join("db.cairnbak");
    let db = Db::open_with(&src, Options::default().write_buffer_size(64 << 10)).expect("open");
    for i in 0..3_000u32 {
        db.put_with(format!("k{i:05}"), format!("v{i}"), WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    db.delete("k00007").expect("delete");
    let out = std::fs::File::create(&file).expect("create");
    let report = db.backup(std::io::BufWriter::new(out)).expect("backup");
    assert_eq!(
        report.stream_bytes,
        std::fs::metadata(&file).expect("stat").len()
    );
    db.put("after", "x").expect("put");

    let dest = t.path().join("restored");
    let r = cairn::restore(std::fs::File::open(&file).expect("open file"), &dest).expect("restore");
    assert_eq!(r.sequence, report.sequence);
    let copy = Db::open(&dest).expect("open restored");
    assert_eq!(copy.iter().count(), 2_999);
    assert_eq!(copy.get("k00007").expect("get"), None);
    assert_eq!(copy.get("after").expect("get"), None);
    assert_eq!(
        copy.get("k02999").expect("get").as_deref(),
        Some(&b"v2999"[..])
    );
    copy.close().expect("close");

    // Into the restored (non-empty) directory again: refused, nothing changes.
    match cairn::restore(std::fs::File::open(&file).expect("open file"), &dest) {
        Err(Error::AlreadyExists(_)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // A flipped byte in the middle: refused, and the new directory stays empty.
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    let dest2 = t.path().join("restored2");
    match cairn::restore(bytes.as_slice(), &dest2) {
        Err(Error::Corruption { .. }) => {}
        other => panic!("expected Corruption, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(&dest2).expect("read dir").count(), 0);
}
