//! Checkpoints: a copy taken while writes, flushes and compactions go on opens and holds
//! exactly the writes up to the checkpoint's sequence number; the files it copies are not
//! removed under it; a crash at any point of the copy leaves the source intact and the copy
//! either refused by open or complete.

use cairn_core::{copy_checkpoint, Db, Error, Options, WriteOptions};
use cairn_vfs::fault::CrashMode;
use cairn_vfs::{FaultVfs, MemVfs, Vfs};
use std::collections::BTreeMap;
use std::ops::Bound;

fn opts() -> Options {
    Options::default()
        .write_buffer_size(16 << 10)
        .target_table_size(8 << 10)
        .base_level_size(32 << 10)
        .level_size_multiplier(4)
        .l0_compaction_trigger(2)
        .block_size(1024)
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u32) -> Vec<u8> {
    format!("key{:05}", i % 700).into_bytes()
}

/// Writes `n` operations (puts, some deletes), mirroring them in `model`.
fn write<V: Vfs + Clone>(db: &mut Db<V>, model: &mut Model, from: u32, n: u32) {
    for i in from..from + n {
        let k = key(i.wrapping_mul(2_654_435_761));
        if i % 7 == 3 {
            db.delete(&k, WriteOptions::NO_SYNC).expect("delete");
            model.remove(&k);
        } else {
            let v = format!("v{i}-{}", "x".repeat((i % 50) as usize)).into_bytes();
            db.put(&k, &v, WriteOptions::NO_SYNC).expect("put");
            model.insert(k, v);
        }
    }
}

fn contents<V: Vfs + Clone>(db: &Db<V>) -> Model {
    db.range((Bound::Unbounded, Bound::Unbounded))
        .expect("iter")
        .map(|r| r.expect("entry"))
        .collect()
}

#[test]
fn a_checkpoint_taken_during_writes_and_compactions_holds_exactly_its_sequence() {
    let src = MemVfs::new();
    let mut db = Db::open(src.clone(), opts()).expect("open");
    let mut model = Model::new();
    write(&mut db, &mut model, 0, 3_000);
    db.run_all_background_work().expect("bg");
    // Leave writes in the memtable and the WAL, and a frozen memtable not yet flushed.
    write(&mut db, &mut model, 3_000, 150);

    let plan = db.begin_checkpoint().expect("begin");
    assert_eq!(plan.sequence, db.visible_sequence());
    let at_checkpoint = model.clone();
    let pinned: Vec<String> = plan.files.iter().map(|f| f.name.clone()).collect();

    // The source goes on: more writes, flushes and compactions that make the planned tables
    // and WALs obsolete.
    write(&mut db, &mut model, 5_000, 3_000);
    db.flush().expect("flush");
    db.compact_range(None, None).expect("compact");
    let listing = src.list().expect("list");
    for name in &pinned {
        assert!(
            listing.contains(name),
            "{name} was removed while a checkpoint held it"
        );
    }

    let dest = MemVfs::new();
    let report = copy_checkpoint(&src, &plan, &dest, &mut |_| Ok(false)).expect("copy");
    assert_eq!(report.files_copied as usize, plan.files.len());
    assert_eq!(report.sequence, plan.sequence);
    db.end_checkpoint().expect("end");

    // Once the checkpoint ended, the deferred sweep removed what became obsolete.
    let listing = src.list().expect("list");
    let live_tables: Vec<String> = db
        .tables()
        .iter()
        .map(|t| format!("{:06}.sst", t.number))
        .collect();
    for name in listing.iter().filter(|n| n.ends_with(".sst")) {
        assert!(
            live_tables.contains(name),
            "{name} obsolete but not removed"
        );
    }

    let copy = Db::open(dest.clone(), opts()).expect("open the checkpoint");
    assert_eq!(contents(&copy), at_checkpoint);
    assert!(copy.visible_sequence() >= plan.sequence);
    assert_eq!(contents(&db), model);

    // The copy is a database of its own: writes to it do not reach the source.
    let mut copy = copy;
    copy.put(b"only-in-copy", b"1", WriteOptions::SYNC)
        .expect("put");
    assert_eq!(db.get(b"only-in-copy").expect("get"), None);
}

#[test]
fn checkpoint_to_copies_a_quiet_database_whole() {
    let src = MemVfs::new();
    let mut db = Db::open(src.clone(), opts()).expect("open");
    let mut model = Model::new();
    write(&mut db, &mut model, 0, 2_000);
    let dest = MemVfs::new();
    let report = db.checkpoint_to(&dest).expect("checkpoint");
    assert!(report.bytes_copied > 0);
    assert_eq!(db.stats().checkpoints, 1);
    let copy = Db::open(dest, opts()).expect("open copy");
    assert_eq!(contents(&copy), model);
}

#[test]
fn a_checkpoint_into_a_directory_that_holds_files_is_refused_and_changes_nothing() {
    let mut db = Db::open(MemVfs::new(), opts()).expect("open");
    db.put(b"a", b"1", WriteOptions::SYNC).expect("put");
    let dest = MemVfs::new();
    let other = Db::open(dest.clone(), opts()).expect("other db");
    drop(other);
    let before = dest.list().expect("list");
    match db.checkpoint_to(&dest) {
        Err(Error::AlreadyExists(_)) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(dest.list().expect("list"), before);
    // The pin was released: the source still removes obsolete files afterwards.
    db.flush().expect("flush");
    db.put(b"b", b"2", WriteOptions::SYNC).expect("put");
}

#[test]
fn checkpoints_are_refused_on_closed_and_read_only_databases() {
    let src = MemVfs::new();
    let mut db = Db::open(src.clone(), opts()).expect("open");
    db.put(b"a", b"1", WriteOptions::SYNC).expect("put");
    db.close().expect("close");
    assert!(matches!(db.begin_checkpoint(), Err(Error::Closed)));
    let mut ro = Db::open_read_only(src, opts()).expect("read-only");
    assert!(matches!(ro.begin_checkpoint(), Err(Error::ReadOnly(_))));
}

#[test]
fn a_crash_at_any_point_of_the_copy_leaves_the_source_intact_and_the_copy_refused_or_whole() {
    let src = MemVfs::new();
    let mut db = Db::open(src.clone(), opts()).expect("open");
    let mut model = Model::new();
    write(&mut db, &mut model, 0, 1_200);
    db.run_all_background_work().expect("bg");
    write(&mut db, &mut model, 2_000, 40);
    let plan = db.begin_checkpoint().expect("begin");

    // Count the destination's mutations in a clean copy, then kill at every one of them.
    let probe = FaultVfs::new(MemVfs::new());
    copy_checkpoint(&src, &plan, &probe, &mut |_| Ok(false)).expect("probe copy");
    let total = probe.mutation_count();
    assert!(total > 5, "only {total} mutations");
    let (mut refused, mut whole) = (0, 0);
    for kill in 1..=total {
        for mode in [CrashMode::DropUnsynced, CrashMode::DropUnsyncedAndDirOps] {
            let dest = FaultVfs::new(MemVfs::new());
            dest.set_kill_at(Some(kill));
            let r = copy_checkpoint(&src, &plan, &dest, &mut |_| Ok(false));
            assert!(
                r.is_err(),
                "kill at {kill} of {total} did not stop the copy"
            );
            dest.crash(mode);
            match Db::open(dest.clone(), opts().create_if_missing(false)) {
                Ok(copy) => {
                    assert_eq!(contents(&copy), model, "kill at {kill}: copy differs");
                    whole += 1;
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0);
    db.end_checkpoint().expect("end");
    drop(db);
    let reopened = Db::open(src, opts()).expect("source reopens");
    assert_eq!(contents(&reopened), model);
    eprintln!("{total} kill points x 2 crash modes: {refused} copies refused, {whole} whole");
}
