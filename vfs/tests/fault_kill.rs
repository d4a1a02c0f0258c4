//! FaultVfs kill points: a scripted workload killed at every mutation, every kill effect and
//! every crash mode, checked against an independent oracle.
#![cfg(feature = "fault")]
#![allow(clippy::unwrap_used)]

mod fault_support;

use cairn_vfs::fault::{CrashMode, FaultVfs, KillEffect};
use cairn_vfs::{ErrorKind, File, MemVfs, Vfs};
use fault_support::{all_modes, Model};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
enum Step {
    Create(&'static str),
    Write(&'static str, u64, &'static [u8]),
    Truncate(&'static str, u64),
    Sync(&'static str),
    Remove(&'static str),
    SyncDir,
}

use Step::*;

const LOG1: &str = "000001.log";
const SST: &str = "000002.sst";
const MAN: &str = "MANIFEST-000001";
const LOG3: &str = "000003.log";

const SCRIPT: &[Step] = &[
    Create(LOG1),
    Write(LOG1, 0, b"rec1"),
    Sync(LOG1),
    SyncDir,
    Write(LOG1, 4, b"rec2"),
    Create(SST),
    Write(SST, 0, b"table-data"),
    Sync(SST),
    SyncDir,
    Write(LOG1, 8, b"rec3"),
    Sync(LOG1),
    Create(MAN),
    Write(MAN, 0, b"edit1"),
    Sync(MAN),
    SyncDir,
    Remove(LOG1),
    Create(LOG3),
    Write(LOG3, 0, b"rec4"),
    Truncate(SST, 5),
    Sync(LOG3),
    SyncDir,
    Write(MAN, 5, b"edit2"),
    Truncate(MAN, 12),
    Sync(MAN),
    Remove(SST),
    Write(LOG3, 4, b"rec5"),
    SyncDir,
    Write(LOG3, 8, b"rec6-unsynced"),
];

type Handles = BTreeMap<&'static str, Arc<<FaultVfs<MemVfs> as Vfs>::File>>;

fn exec(vfs: &FaultVfs<MemVfs>, handles: &mut Handles, step: Step) -> cairn_vfs::Result<()> {
    match step {
        Create(n) => {
            handles.insert(n, vfs.create(n)?);
        }
        Write(n, off, data) => handles[n].write_at(off, data)?,
        Truncate(n, len) => handles[n].truncate(len)?,
        Sync(n) => handles[n].sync()?,
        Remove(n) => vfs.remove(n)?,
        SyncDir => vfs.sync_dir()?,
    }
    Ok(())
}

fn record(model: &mut Model, step: Step) {
    match step {
        Create(n) => model.create(n),
        Write(n, off, data) => model.write(n, off, data),
        Truncate(n, len) => model.truncate(n, len),
        Sync(n) => model.sync(n),
        Remove(n) => model.remove(n),
        SyncDir => model.sync_dir(),
    }
}

/// The fatal step may or may not have happened: widen the oracle.
fn record_uncertain(model: &mut Model, step: Step) {
    match step {
        // A torn write or truncate is an unsynced op whose prefix may survive.
        Write(..) | Truncate(..) => record(model, step),
        // Whether it made things durable or not, both outcomes are in the prefix set.
        Sync(_) => {}
        Create(n) => {
            model.create(n);
            model.files.get_mut(n).unwrap().uncertain = true;
        }
        Remove(n) => model.files.get_mut(n).unwrap().uncertain = true,
        SyncDir => {
            for f in model.files.values_mut() {
                if f.live != f.dir_durable {
                    f.uncertain = true;
                }
            }
        }
    }
}

fn assert_dead(vfs: &FaultVfs<MemVfs>, handles: &Handles) {
    let dead = |r: cairn_vfs::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::Io, "{what}");
        assert!(e.context().contains("simulated crash"), "{what}: {e}");
    };
    assert!(vfs.killed());
    dead(vfs.list().map(|_| ()), "list");
    dead(vfs.exists(MAN).map(|_| ()), "exists");
    dead(vfs.open(MAN).map(|_| ()), "open");
    dead(vfs.create("late").map(|_| ()), "create");
    dead(vfs.remove(MAN), "remove");
    dead(vfs.sync_dir(), "sync_dir");
    dead(vfs.lock().map(|_| ()), "lock");
    for h in handles.values() {
        let mut b = [0u8; 1];
        dead(h.read_exact_at(0, &mut b), "read");
        dead(h.write_at(0, b"x"), "write");
        dead(h.sync(), "sync");
        dead(h.truncate(0), "truncate");
        dead(h.len().map(|_| ()), "len");
    }
}

#[test]
fn kill_at_every_mutation_then_crash_gives_a_valid_state() {
    // Sanity: the whole script is one mutation per step.
    let vfs = FaultVfs::new(MemVfs::new());
    let mut handles = Handles::new();
    for &s in SCRIPT {
        exec(&vfs, &mut handles, s).unwrap();
    }
    assert_eq!(vfs.mutation_count(), SCRIPT.len() as u64);

    let mut runs = 0;
    for n in 1..=SCRIPT.len() as u64 {
        for (e, effect) in [
            KillEffect::NotApplied,
            KillEffect::Applied,
            KillEffect::Random { seed: n },
            KillEffect::Random { seed: n + 1000 },
        ]
        .into_iter()
        .enumerate()
        {
            for mode in all_modes(n * 10 + e as u64) {
                let vfs = FaultVfs::new(MemVfs::new());
                vfs.set_kill_effect(effect);
                vfs.set_kill_at(Some(n));
                let mut model = Model::default();
                let mut handles = Handles::new();
                let mut died_at = None;
                for (i, &step) in SCRIPT.iter().enumerate() {
                    match exec(&vfs, &mut handles, step) {
                        Ok(()) => record(&mut model, step),
                        Err(err) => {
                            assert_eq!(err.context(), "simulated crash");
                            match effect {
                                KillEffect::NotApplied => {}
                                KillEffect::Applied => record(&mut model, step),
                                KillEffect::Random { .. } => record_uncertain(&mut model, step),
                            }
                            died_at = Some(i as u64 + 1);
                            break;
                        }
                    }
                }
                assert_eq!(died_at, Some(n));
                assert_dead(&vfs, &handles);
                vfs.crash(mode);
                assert!(!vfs.killed());
                let exact = !matches!(effect, KillEffect::Random { .. });
                model
                    .check(&vfs, mode, exact)
                    .unwrap_or_else(|err| panic!("kill at {n}, {effect:?}, {mode:?}: {err}"));
                // The old process's handles stay dead; the new one works.
                for h in handles.values() {
                    assert!(h.write_at(0, b"zombie").is_err());
                }
                let f = vfs.create("after-crash").unwrap();
                f.write_at(0, b"ok").unwrap();
                f.sync().unwrap();
                runs += 1;
            }
        }
    }
    assert_eq!(runs, SCRIPT.len() * 4 * 5);
}

#[test]
fn kill_point_is_absolute_and_disarmed_by_crash() {
    let vfs = FaultVfs::new(MemVfs::new());
    let f = vfs.create("f").unwrap();
    f.write_at(0, b"a").unwrap();
    assert_eq!(vfs.mutation_count(), 2);
    vfs.set_kill_at(Some(4));
    f.write_at(1, b"b").unwrap(); // mutation 3
    assert!(!vfs.killed());
    assert!(f.sync().is_err()); // mutation 4: dies, not applied
    assert!(vfs.killed());
    assert_eq!(vfs.mutation_count(), 4);
    vfs.crash(CrashMode::DropUnsynced);
    // Not dir-synced but DropUnsynced keeps names; the sync never happened.
    assert_eq!(vfs.open("f").unwrap().read_all().unwrap(), Vec::<u8>::new());
    // Disarmed: more mutations go through.
    let f = vfs.open("f").unwrap();
    for _ in 0..10 {
        f.write_at(0, b"x").unwrap();
    }
    // A kill number already passed kills at the next mutation.
    vfs.set_kill_at(Some(1));
    assert!(f.write_at(0, b"y").is_err());
    vfs.crash(CrashMode::KeepUnsynced);
    assert_eq!(vfs.open("f").unwrap().read_all().unwrap(), b"x".to_vec());

    vfs.kill_now();
    assert!(vfs.list().is_err());
    vfs.crash(CrashMode::KeepUnsynced);
    assert!(vfs.list().is_ok());
}

#[test]
fn random_kill_effect_tears_the_fatal_write() {
    let mut lens = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let vfs = FaultVfs::new(MemVfs::new());
        vfs.set_kill_effect(KillEffect::Random { seed });
        let f = vfs.create("f").unwrap();
        vfs.set_kill_at(Some(2));
        assert!(f.write_at(0, &[7u8; 100]).is_err());
        vfs.crash(CrashMode::KeepUnsynced);
        let got = vfs.open("f").unwrap().read_all().unwrap();
        assert!(got.iter().all(|&b| b == 7));
        lens.insert(got.len());
    }
    assert!(lens.contains(&100) && lens.len() > 10, "{lens:?}");
}
