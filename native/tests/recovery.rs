//! Recovery: reopening after a drop without close, torn WAL tails, and damage in the middle
//! of a WAL.

use cairn::{Db, Error, MemVfs, Options, RecoveryMode, Vfs, WriteOptions};
use cairn_vfs::File;

fn wal_names(vfs: &MemVfs) -> Vec<String> {
    let mut v: Vec<String> = vfs
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .collect();
    v.sort();
    v
}

fn fill(vfs: &MemVfs, n: u32) {
    let db = Db::open_vfs(vfs.clone(), Options::default()).expect("open");
    for i in 0..n {
        db.put_with(
            format!("k{i:05}").as_bytes(),
            [i as u8; 50],
            WriteOptions::NO_SYNC,
        )
        .expect("put");
    }
    // Dropped without close: what a process crash leaves.
}

/// The newest WAL with records (recovery starts a new, empty WAL on every open).
fn data_wal(vfs: &MemVfs) -> String {
    wal_names(vfs)
        .into_iter()
        .rev()
        .find(|n| vfs.open(n).expect("open").len().expect("len") > 16)
        .expect("a WAL with records")
}

fn count(vfs: &MemVfs, opts: Options) -> Result<usize, Error> {
    let db = Db::open_vfs(vfs.clone(), opts)?;
    let mut n = 0;
    for e in db.iter() {
        e?;
        n += 1;
    }
    Ok(n)
}

#[test]
fn drop_without_close_keeps_every_acknowledged_write() {
    let vfs = MemVfs::new();
    fill(&vfs, 1000);
    assert_eq!(count(&vfs, Options::default()).expect("reopen"), 1000);
    // And again, after a second unclean reopen.
    assert_eq!(count(&vfs, Options::default()).expect("reopen"), 1000);
}

#[test]
fn torn_tails_recover_a_prefix() {
    for cut in [1usize, 7, 40, 61, 300] {
        let vfs = MemVfs::new();
        fill(&vfs, 100);
        let wal = data_wal(&vfs);
        let f = vfs.open(&wal).expect("open");
        let len = f.len().expect("len");
        f.truncate(len - cut as u64).expect("truncate");
        let n = count(&vfs, Options::default()).expect("torn tail tolerated");
        assert!(n < 100 && n >= 100 - 1 - cut / 60, "cut {cut}: {n} entries");
        // The database keeps working and the tail stays gone.
        let db = Db::open_vfs(vfs.clone(), Options::default()).expect("reopen");
        db.put(b"after", b"torn").expect("put");
        drop(db);
        assert_eq!(count(&vfs, Options::default()).expect("reopen"), n + 1);
    }
}

#[test]
fn garbage_and_zeros_after_the_last_record_are_a_torn_tail() {
    for tail in [
        vec![0u8; 4096],
        vec![0x5A; 100],
        vec![1, 0, 0, 0, 200, 0, 0, 0, 1],
    ] {
        let vfs = MemVfs::new();
        fill(&vfs, 100);
        let wal = data_wal(&vfs);
        let f = vfs.open(&wal).expect("open");
        let len = f.len().expect("len");
        f.write_at(len, &tail).expect("append garbage");
        assert_eq!(count(&vfs, Options::default()).expect("tolerated"), 100);
    }
    // In absolute-consistency mode the same damage is an error.
    let vfs = MemVfs::new();
    fill(&vfs, 100);
    let wal = data_wal(&vfs);
    let f = vfs.open(&wal).expect("open");
    let len = f.len().expect("len");
    f.write_at(len, &[0x5A; 100]).expect("append garbage");
    let strict = Options::default().recovery_mode(RecoveryMode::AbsoluteConsistency);
    assert!(matches!(count(&vfs, strict), Err(Error::Corruption { .. })));
}

#[test]
fn a_flipped_bit_in_the_middle_is_corruption() {
    let vfs = MemVfs::new();
    fill(&vfs, 100);
    let wal = data_wal(&vfs);
    let f = vfs.open(&wal).expect("open");
    let len = f.len().expect("len");
    let pos = len / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(pos, &mut b).expect("read");
    f.write_at(pos, &[b[0] ^ 0x10]).expect("flip");
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let opts = Options::default().recovery_mode(mode);
        match Db::open_vfs(vfs.clone(), opts) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, wal);
                assert!(offset.is_some());
            }
            other => panic!("{mode:?}: {other:?}"),
        }
    }
}

#[test]
fn reopen_after_many_flushes_reproduces_the_state_and_removes_obsolete_files() {
    let vfs = MemVfs::new();
    let opts = Options::default()
        .write_buffer_size(16 << 10)
        .background_threads(0);
    {
        let db = Db::open_vfs(vfs.clone(), opts.clone()).expect("open");
        for i in 0..5000u32 {
            db.put_with(
                format!("k{:05}", i % 3000).as_bytes(),
                i.to_le_bytes(),
                WriteOptions::NO_SYNC,
            )
            .expect("put");
        }
        db.flush().expect("flush");
        db.close().expect("close");
    }
    let db = Db::open_vfs(vfs.clone(), opts).expect("reopen");
    for i in 2000..5000u32 {
        let got = db.get(format!("k{:05}", i % 3000).as_bytes()).expect("get");
        assert_eq!(got.as_deref(), Some(&i.to_le_bytes()[..]));
    }
    let names = vfs.list().expect("list");
    let wals = names.iter().filter(|n| n.ends_with(".wal")).count();
    let manifests = names.iter().filter(|n| n.starts_with("MANIFEST-")).count();
    assert_eq!(wals, 1, "only the live WAL remains: {names:?}");
    assert_eq!(manifests, 1, "only the current manifest remains: {names:?}");
    let live: Vec<u64> = db
        .current_version()
        .all_tables()
        .map(|(_, t)| t.number)
        .collect();
    for n in names.iter().filter(|n| n.ends_with(".sst")) {
        let num: u64 = n.trim_end_matches(".sst").parse().expect("number");
        assert!(live.contains(&num), "obsolete table {n} left behind");
    }
}
