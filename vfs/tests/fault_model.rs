//! FaultVfs: conformance, what each crash mode keeps, directory durability, error
//! injection, accounting.
#![cfg(feature = "fault")]
#![allow(clippy::unwrap_used)]

mod fault_support;

use cairn_vfs::fault::{CrashMode, FaultVfs, OpKind};
use cairn_vfs::{conformance, ErrorKind, File, MemVfs, Vfs};
use fault_support::{all_modes, in_prefix_set, MOp, Model, TestRng};

fn new_vfs() -> FaultVfs<MemVfs> {
    FaultVfs::new(MemVfs::new())
}

fn contents(vfs: &FaultVfs<MemVfs>, name: &str) -> Option<Vec<u8>> {
    match vfs.open(name) {
        Ok(f) => Some(f.read_all().unwrap()),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("open {name}: {e}"),
    }
}

#[test]
fn conformance_passes() {
    let vfs = new_vfs();
    assert_eq!(conformance::run(&vfs), Ok(6));
    // Again after a crash (re-adopted files, new epoch), on the same inner Vfs.
    vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    assert_eq!(conformance::run(&vfs), Ok(6));
    assert_eq!(conformance::run(&FaultVfs::new(vfs.clone())), Ok(6));
}

#[test]
fn conformance_passes_over_std_vfs() {
    let dir = tempfile::tempdir().unwrap();
    let vfs = FaultVfs::new(cairn_vfs::StdVfs::new(dir.path()).unwrap());
    assert_eq!(conformance::run(&vfs), Ok(6));
    let f = vfs.create("x.bin").unwrap();
    f.write_at(0, b"durable").unwrap();
    f.sync().unwrap();
    vfs.sync_dir().unwrap();
    f.write_at(7, b" lost").unwrap();
    vfs.crash(CrashMode::DropUnsynced);
    assert_eq!(
        vfs.open("x.bin").unwrap().read_all().unwrap(),
        b"durable".to_vec()
    );
}

#[test]
fn synced_data_survives_every_mode_and_unsynced_is_dropped() {
    for seed in 0..200u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            let f = vfs.create("a.log").unwrap();
            f.write_at(0, b"synced-1;").unwrap();
            f.write_at(9, b"synced-2;").unwrap();
            f.sync().unwrap();
            vfs.sync_dir().unwrap();
            f.write_at(18, b"unsynced-3;").unwrap();
            f.write_at(0, b"OVERWRITE").unwrap();
            f.truncate(5).unwrap();
            vfs.crash(mode);
            let got = contents(&vfs, "a.log").expect("a synced, dir-synced file survives");
            match mode {
                CrashMode::DropUnsynced | CrashMode::DropUnsyncedAndDirOps => {
                    assert_eq!(got, b"synced-1;synced-2;".to_vec())
                }
                CrashMode::KeepUnsynced => assert_eq!(got, b"OVERW".to_vec()),
                _ => {
                    let pending = [
                        MOp::Write(18, b"unsynced-3;".to_vec()),
                        MOp::Write(0, b"OVERWRITE".to_vec()),
                        MOp::Truncate(5),
                    ];
                    let garbage = matches!(mode, CrashMode::TornPrefixWithGarbage { .. });
                    assert!(
                        in_prefix_set(&got, b"synced-1;synced-2;", &pending, garbage),
                        "{mode:?}: {got:?}"
                    );
                }
            }
            // Stale handles of the dead process refuse to work.
            assert_eq!(f.write_at(0, b"zombie").unwrap_err().kind(), ErrorKind::Io);
            assert_eq!(f.len().unwrap_err().kind(), ErrorKind::Io);
        }
    }
}

/// Random workloads on one file; a torn crash keeps the durable image plus an ordered prefix
/// of the unsynced operations, never a hole.
#[test]
fn torn_prefix_keeps_a_prefix_never_a_hole() {
    let mut kept_counts = std::collections::BTreeMap::new();
    for seed in 0..600u64 {
        let mut rng = TestRng::new(seed);
        let vfs = new_vfs();
        let mut model = Model::default();
        let f = vfs.create("f.bin").unwrap();
        model.create("f.bin");
        vfs.sync_dir().unwrap();
        model.sync_dir();
        let ops = 1 + rng.below(12);
        let mut len = 0u64;
        for i in 0..ops {
            match rng.below(10) {
                0 => {
                    f.sync().unwrap();
                    model.sync("f.bin");
                }
                1 => {
                    let to = rng.below(len + 20);
                    f.truncate(to).unwrap();
                    model.truncate("f.bin", to);
                    len = to;
                }
                _ => {
                    // Mostly appends, sometimes overwrites; every write has its own byte.
                    let off = if rng.below(3) == 0 {
                        rng.below(len + 1)
                    } else {
                        len
                    };
                    let n = 1 + rng.below(40) as usize;
                    let data = vec![b'a' + (i % 26) as u8; n];
                    f.write_at(off, &data).unwrap();
                    model.write("f.bin", off, &data);
                    len = len.max(off + n as u64);
                }
            }
        }
        let pending = model.files["f.bin"].pending.len();
        let mode = if seed % 2 == 0 {
            CrashMode::TornPrefix { seed }
        } else {
            CrashMode::TornPrefixWithGarbage { seed }
        };
        vfs.crash(mode);
        model.check(&vfs, mode, false).unwrap_or_else(|e| {
            panic!("seed {seed}: {e}");
        });
        // How much of the unsynced tail was kept, to show the test is not vacuous.
        let got = contents(&vfs, "f.bin").unwrap();
        let f_model = &model.files["f.bin"];
        let kind = if got == f_model.durable {
            "none"
        } else if got == f_model.all() {
            "all"
        } else {
            "part"
        };
        if pending > 0 {
            *kept_counts.entry(kind).or_insert(0u32) += 1;
        }
    }
    for kind in ["none", "all", "part"] {
        assert!(
            kept_counts.get(kind).copied().unwrap_or(0) > 10,
            "{kept_counts:?}"
        );
    }
}

#[test]
fn same_seed_same_crash() {
    let run = |seed| {
        let vfs = new_vfs();
        for i in 0..5u8 {
            let name = format!("f{i}.bin");
            let f = vfs.create(&name).unwrap();
            f.write_at(0, &[i; 100]).unwrap();
            if i % 2 == 0 {
                f.sync().unwrap();
            }
            f.write_at(100, &[i + 10; 100]).unwrap();
        }
        vfs.crash(CrashMode::TornPrefixWithGarbage { seed });
        let mut names = vfs.list().unwrap();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), contents(&vfs, &n)))
            .collect::<Vec<_>>()
    };
    for seed in 0..20 {
        assert_eq!(run(seed), run(seed));
    }
    assert!((0..20).any(|s| run(s) != run(s + 1)));
}

#[test]
fn created_without_sync_dir_may_vanish_even_if_data_synced() {
    let mut vanished = 0;
    let mut kept = 0;
    for seed in 0..100u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            let f = vfs.create("new.sst").unwrap();
            f.write_at(0, b"table").unwrap();
            f.sync().unwrap(); // data durable, name not
            let report = vfs.try_crash(mode).unwrap();
            match contents(&vfs, "new.sst") {
                None => {
                    assert_ne!(mode, CrashMode::DropUnsynced);
                    assert_ne!(mode, CrashMode::KeepUnsynced);
                    assert_eq!(report.vanished, vec!["new.sst".to_string()]);
                    vanished += 1;
                }
                Some(got) => {
                    assert_ne!(mode, CrashMode::DropUnsyncedAndDirOps);
                    assert_eq!(got, b"table".to_vec());
                    kept += 1;
                }
            }
        }
    }
    assert!(vanished > 100 && kept > 250, "{vanished} {kept}");

    // Once the directory is synced, the name is stable in every mode.
    for seed in 0..50u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            let f = vfs.create("new.sst").unwrap();
            f.write_at(0, b"table").unwrap();
            f.sync().unwrap();
            vfs.sync_dir().unwrap();
            vfs.crash(mode);
            assert_eq!(contents(&vfs, "new.sst"), Some(b"table".to_vec()));
        }
    }
}

#[test]
fn removed_without_sync_dir_may_reappear_with_durable_contents() {
    let mut back = 0;
    let mut gone = 0;
    for seed in 0..100u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            let f = vfs.create("old.log").unwrap();
            f.write_at(0, b"durable").unwrap();
            f.sync().unwrap();
            vfs.sync_dir().unwrap();
            f.write_at(7, b"+unsynced").unwrap();
            vfs.remove("old.log").unwrap();
            assert!(!vfs.exists("old.log").unwrap());
            vfs.crash(mode);
            match contents(&vfs, "old.log") {
                Some(got) => {
                    assert!(!matches!(
                        mode,
                        CrashMode::DropUnsynced | CrashMode::KeepUnsynced
                    ));
                    let pending = [MOp::Write(7, b"+unsynced".to_vec())];
                    let garbage = matches!(mode, CrashMode::TornPrefixWithGarbage { .. });
                    assert!(in_prefix_set(&got, b"durable", &pending, garbage));
                    if mode == CrashMode::DropUnsyncedAndDirOps {
                        assert_eq!(got, b"durable".to_vec());
                    }
                    back += 1;
                }
                None => {
                    assert_ne!(mode, CrashMode::DropUnsyncedAndDirOps);
                    gone += 1;
                }
            }
        }
    }
    assert!(back > 100 && gone > 250, "{back} {gone}");

    // After sync_dir the removal is permanent.
    for seed in 0..50u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            vfs.create("old.log").unwrap();
            vfs.sync_dir().unwrap();
            vfs.remove("old.log").unwrap();
            vfs.sync_dir().unwrap();
            vfs.crash(mode);
            assert_eq!(contents(&vfs, "old.log"), None);
            assert!(vfs.list().unwrap().is_empty());
        }
    }
}

#[test]
fn removed_then_recreated_name_is_old_or_new_file() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..100u64 {
        for mode in all_modes(seed) {
            let vfs = new_vfs();
            let f = vfs.create("x").unwrap();
            f.write_at(0, b"old").unwrap();
            f.sync().unwrap();
            vfs.sync_dir().unwrap();
            vfs.remove("x").unwrap();
            // The unlinked file is still open: its synced writes count if it comes back.
            f.write_at(3, b"+synced-after-unlink").unwrap();
            f.sync().unwrap();
            let g = vfs.create("x").unwrap();
            g.write_at(0, b"new").unwrap();
            g.sync().unwrap();
            vfs.crash(mode);
            let got = contents(&vfs, "x").expect("x is bound in both states");
            assert!(
                got == b"old+synced-after-unlink".to_vec() || got == b"new".to_vec(),
                "{mode:?}: {got:?}"
            );
            if mode == CrashMode::DropUnsyncedAndDirOps {
                assert_eq!(got, b"old+synced-after-unlink".to_vec());
            }
            if matches!(mode, CrashMode::DropUnsynced | CrashMode::KeepUnsynced) {
                assert_eq!(got, b"new".to_vec());
            }
            seen.insert(got);
        }
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn sync_is_per_file() {
    let vfs = new_vfs();
    let a = vfs.create("a").unwrap();
    let b = vfs.create("b").unwrap();
    vfs.sync_dir().unwrap();
    a.write_at(0, b"aaaa").unwrap();
    b.write_at(0, b"bbbb").unwrap();
    a.sync().unwrap();
    b.write_at(4, b"more").unwrap(); // b never synced
    a.write_at(4, b"after-sync").unwrap(); // unsynced again
    vfs.crash(CrashMode::DropUnsynced);
    assert_eq!(contents(&vfs, "a"), Some(b"aaaa".to_vec()));
    assert_eq!(contents(&vfs, "b"), Some(Vec::new()));
}

#[test]
fn preexisting_files_are_durable_and_untouched_files_are_left_alone() {
    let mem = MemVfs::new();
    mem.put_file("pre.sst", b"pre-existing".to_vec());
    mem.put_file("keep.sst", b"never touched".to_vec());
    let vfs = FaultVfs::new(mem.clone());
    let f = vfs.open("pre.sst").unwrap();
    f.write_at(0, b"PRE").unwrap();
    vfs.remove("keep.sst").unwrap();
    vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    assert_eq!(contents(&vfs, "pre.sst"), Some(b"pre-existing".to_vec()));
    assert_eq!(contents(&vfs, "keep.sst"), Some(b"never touched".to_vec()));
    // A test may corrupt files directly after a crash.
    mem.put_file("pre.sst", b"corrupt".to_vec());
    vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    assert_eq!(contents(&vfs, "pre.sst"), Some(b"corrupt".to_vec()));
}

#[test]
fn fail_nth_each_kind_leaves_correct_state() {
    for kind in [ErrorKind::Io, ErrorKind::NoSpace] {
        let vfs = new_vfs();
        let f = vfs.create("f").unwrap();
        vfs.sync_dir().unwrap();

        // Write: fails once, applies nothing.
        f.write_at(0, b"one").unwrap();
        vfs.fail_nth(OpKind::Write, 2, kind);
        f.write_at(3, b"two").unwrap();
        assert_eq!(f.write_at(6, b"three").unwrap_err().kind(), kind);
        assert_eq!(f.read_all().unwrap(), b"onetwo".to_vec());
        f.write_at(6, b"four").unwrap();
        assert_eq!(f.read_all().unwrap(), b"onetwofour".to_vec());

        // Sync: fails once, makes nothing durable; the next one does.
        vfs.fail_nth(OpKind::Sync, 1, kind);
        assert_eq!(f.sync().unwrap_err().kind(), kind);
        assert_eq!(vfs.files()[0].pending_ops, 3);
        assert_eq!(vfs.files()[0].durable_len, Some(0));

        // Read: fails once.
        vfs.fail_nth(OpKind::Read, 1, kind);
        assert_eq!(f.read_all().unwrap_err().kind(), kind);
        assert_eq!(f.read_all().unwrap(), b"onetwofour".to_vec());

        // Truncate: fails once, length unchanged.
        vfs.fail_nth(OpKind::Truncate, 1, kind);
        assert_eq!(f.truncate(2).unwrap_err().kind(), kind);
        assert_eq!(f.len().unwrap(), 10);

        // Create: fails once, no file.
        vfs.fail_nth(OpKind::Create, 1, kind);
        assert_eq!(vfs.create("g").unwrap_err().kind(), kind);
        assert!(!vfs.exists("g").unwrap());
        let g = vfs.create("g").unwrap();
        g.write_at(0, b"g").unwrap();
        g.sync().unwrap();

        // SyncDir: fails once, the create is not durable.
        vfs.fail_nth(OpKind::SyncDir, 1, kind);
        assert_eq!(vfs.sync_dir().unwrap_err().kind(), kind);

        // Remove: fails once, file still there.
        vfs.fail_nth(OpKind::Remove, 1, kind);
        assert_eq!(vfs.remove("f").unwrap_err().kind(), kind);
        assert!(vfs.exists("f").unwrap());

        // Open: fails once.
        vfs.fail_nth(OpKind::Open, 1, kind);
        assert_eq!(vfs.open("f").unwrap_err().kind(), kind);
        assert!(vfs.open("f").is_ok());

        assert_eq!(vfs.stats().injected, 8);
        // Nothing of f was synced; g was synced but its name never was.
        vfs.crash(CrashMode::DropUnsyncedAndDirOps);
        assert_eq!(contents(&vfs, "f"), Some(Vec::new()));
        assert_eq!(contents(&vfs, "g"), None);
    }
}

#[test]
fn fail_all_syncs_and_recovery() {
    let vfs = new_vfs();
    let f = vfs.create("wal").unwrap();
    vfs.sync_dir().unwrap();
    f.write_at(0, b"acked").unwrap();
    f.sync().unwrap();
    vfs.fail_all_syncs(Some(ErrorKind::NoSpace));
    f.write_at(5, b"+failed").unwrap();
    for _ in 0..3 {
        assert_eq!(f.sync().unwrap_err().kind(), ErrorKind::NoSpace);
    }
    assert_eq!(vfs.sync_dir().unwrap_err().kind(), ErrorKind::NoSpace);
    vfs.crash(CrashMode::DropUnsynced);
    assert_eq!(contents(&vfs, "wal"), Some(b"acked".to_vec()));
    // The crash disarmed the failure.
    let f = vfs.open("wal").unwrap();
    f.write_at(5, b"+ok").unwrap();
    f.sync().unwrap();
    vfs.crash(CrashMode::DropUnsynced);
    assert_eq!(contents(&vfs, "wal"), Some(b"acked+ok".to_vec()));

    // A pending injection is disarmed by a crash too.
    vfs.fail_nth(OpKind::Write, 1, ErrorKind::Io);
    vfs.crash(CrashMode::KeepUnsynced);
    vfs.open("wal").unwrap().write_at(0, b"A").unwrap();
}

#[test]
fn accounting_counts_syncs_and_bytes() {
    let vfs = new_vfs();
    let f = vfs.create("f").unwrap();
    for i in 0..10u64 {
        f.write_at(i * 10, &[1; 10]).unwrap();
        if i % 5 == 4 {
            f.sync().unwrap();
        }
    }
    vfs.sync_dir().unwrap();
    let s = vfs.stats();
    assert_eq!(vfs.sync_count(), 2);
    assert_eq!(vfs.sync_dir_count(), 1);
    assert_eq!(vfs.write_count(), 10);
    assert_eq!(vfs.bytes_written(), 100);
    assert_eq!(s.creates, 1);
    assert_eq!(vfs.mutation_count(), 1 + 10 + 2 + 1);
    // Reads are not mutations.
    f.read_all().unwrap();
    assert_eq!(vfs.mutation_count(), 14);
    assert_eq!(vfs.stats().reads, 1);
    vfs.reset_counters();
    assert_eq!(vfs.stats(), Default::default());
    assert!(vfs.describe().contains("f "));
}

#[test]
fn crash_releases_the_lock() {
    let vfs = new_vfs();
    let engine_guard = vfs.lock().unwrap();
    assert_eq!(vfs.lock().unwrap_err().kind(), ErrorKind::Locked);
    vfs.crash(CrashMode::DropUnsynced);
    let reopened = vfs.lock().unwrap();
    drop(engine_guard); // the dead process's guard does not release the new holder
    assert_eq!(vfs.lock().unwrap_err().kind(), ErrorKind::Locked);
    drop(reopened);
    drop(vfs.lock().unwrap());
}

#[test]
fn large_files_work() {
    let vfs = new_vfs();
    let f = vfs.create("big.sst").unwrap();
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    for i in 0..24u64 {
        f.write_at(i << 20, &chunk).unwrap();
        if i == 15 {
            f.sync().unwrap();
        }
    }
    vfs.sync_dir().unwrap();
    vfs.crash(CrashMode::TornPrefix { seed: 7 });
    let len = vfs.open("big.sst").unwrap().len().unwrap();
    assert!((16 << 20..=24 << 20).contains(&len), "{len}");
    vfs.crash(CrashMode::DropUnsynced);
    assert_eq!(vfs.open("big.sst").unwrap().len().unwrap(), len);
}

#[test]
fn threads_share_state_and_a_concurrent_crash_does_not_deadlock() {
    let vfs = new_vfs();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let vfs = vfs.clone();
            std::thread::spawn(move || {
                let name = format!("t{t}.log");
                let f = vfs.create(&name).unwrap();
                vfs.sync_dir().unwrap();
                for i in 0..200u64 {
                    f.write_at(i * 4, &[t; 4]).unwrap();
                    if i % 10 == 9 {
                        f.sync().unwrap();
                    }
                    let _ = f.read_all().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(vfs.sync_count(), 4 * 20);
    vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    for t in 0..4u8 {
        assert_eq!(contents(&vfs, &format!("t{t}.log")), Some(vec![t; 800]));
    }

    // Writers racing a crash: they either complete before it or fail as stale; afterwards the
    // state is one the crash produced and the Vfs keeps working.
    let f = vfs.open("t0.log").unwrap();
    let writer = {
        let f = f.clone();
        std::thread::spawn(move || {
            let mut ok = 0u32;
            for i in 0..10_000u64 {
                if f.write_at(800 + i, &[9]).is_err() {
                    break;
                }
                ok += 1;
            }
            ok
        })
    };
    vfs.crash(CrashMode::DropUnsynced);
    let _ = writer.join().unwrap();
    assert!(f.write_at(0, b"x").is_err());
    assert_eq!(contents(&vfs, "t0.log"), Some(vec![0; 800]));
}
