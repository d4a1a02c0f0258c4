//! The current-manifest pointer (`vfs::current`) under kills at every mutation and random
//! crash modes: after recovery it always names the last acknowledged manifest or the one
//! being switched to, and it can only be unreadable if `current::create` never returned.
#![cfg(feature = "fault")]
#![allow(clippy::unwrap_used)]

use cairn_vfs::current::{self, Current, ReadError};
use cairn_vfs::fault::{CrashMode, FaultVfs, KillEffect};
use cairn_vfs::MemVfs;

const SWITCHES: u64 = 6;

#[derive(Debug, Default)]
struct Progress {
    /// Last manifest whose create/switch returned Ok.
    acked: Option<u64>,
    /// Manifest of the create/switch in progress when the process died.
    in_flight: Option<u64>,
}

fn workload(vfs: &FaultVfs<MemVfs>, p: &mut Progress) -> cairn_vfs::Result<Current> {
    p.in_flight = Some(1);
    let mut cur = current::create(vfs, 1)?;
    p.acked = Some(1);
    for m in 2..=1 + SWITCHES {
        p.in_flight = Some(m);
        cur = current::switch(vfs, &cur, m)?;
        p.acked = Some(m);
    }
    p.in_flight = None;
    Ok(cur)
}

fn check(vfs: &FaultVfs<MemVfs>, p: &Progress, what: &str) -> Option<Current> {
    match current::read(vfs) {
        Ok(c) => {
            assert!(
                Some(c.manifest) == p.acked || Some(c.manifest) == p.in_flight,
                "{what}: read {c:?}, progress {p:?}"
            );
            Some(c)
        }
        Err(e) => {
            assert!(
                p.acked.is_none(),
                "{what}: read failed with {e:?} after create returned, progress {p:?}"
            );
            assert!(
                matches!(e, ReadError::Missing | ReadError::Corrupt(_)),
                "{what}: {e:?}"
            );
            None
        }
    }
}

#[test]
fn current_pointer_survives_kills_at_every_mutation() {
    // Count the mutations of the full workload.
    let vfs = FaultVfs::new(MemVfs::new());
    workload(&vfs, &mut Progress::default()).unwrap();
    let total = vfs.mutation_count();
    assert!(total >= 9 + 3 * SWITCHES, "{total}");

    let mut outcomes = std::collections::BTreeMap::new();
    for n in 1..=total + 1 {
        for (e, effect) in [
            KillEffect::NotApplied,
            KillEffect::Applied,
            KillEffect::Random { seed: n },
        ]
        .into_iter()
        .enumerate()
        {
            for crash_seed in 0..12u64 {
                let seed = n * 1000 + e as u64 * 100 + crash_seed;
                let mode = CrashMode::from_seed(seed);
                let vfs = FaultVfs::new(MemVfs::new());
                vfs.set_kill_effect(effect);
                vfs.set_kill_at(Some(n));
                let mut p = Progress::default();
                let done = workload(&vfs, &mut p);
                assert_eq!(done.is_err(), n <= total);
                assert_eq!(vfs.killed(), n <= total);
                vfs.crash(mode);
                let what = format!("kill at {n}/{total}, {effect:?}, {mode:?}");
                let Some(cur) = check(&vfs, &p, &what) else {
                    *outcomes.entry("unreadable-before-create").or_insert(0) += 1;
                    continue;
                };
                let label = if Some(cur.manifest) == p.acked {
                    "old"
                } else {
                    "new"
                };
                *outcomes.entry(label).or_insert(0) += 1;

                // The recovered pointer keeps working: switch on, crash again. If
                // `create` never returned, a slot may be missing: recovery re-creates the
                // pointer first (as the engine does for an unfinished database creation).
                let mut cur = if p.acked.is_none() {
                    current::create(&vfs, cur.manifest).unwrap()
                } else {
                    cur
                };
                for m in [100, 101] {
                    cur = current::switch(&vfs, &cur, m).unwrap();
                }
                vfs.crash(CrashMode::from_seed(seed + 7));
                let again = current::read(&vfs).unwrap();
                assert_eq!(again.manifest, 101, "{what}");
            }
        }
    }
    for label in ["old", "new", "unreadable-before-create"] {
        assert!(
            outcomes.get(label).copied().unwrap_or(0) > 0,
            "{outcomes:?}"
        );
    }
}

#[test]
fn torn_switch_is_detected_not_misread() {
    // Kill in the middle of the slot write of every switch with a random prefix applied and
    // keep that torn write on "disk": the damaged slot is seen and the old pointer used.
    let mut damaged = 0;
    for seed in 0..200u64 {
        let vfs = FaultVfs::new(MemVfs::new());
        let mut cur = current::create(&vfs, 1).unwrap();
        for m in 2..=1 + seed % 5 {
            cur = current::switch(&vfs, &cur, m).unwrap();
        }
        vfs.set_kill_effect(KillEffect::Random { seed });
        // The next mutation is the slot write of the switch.
        vfs.set_kill_at(Some(vfs.mutation_count() + 1));
        assert!(current::switch(&vfs, &cur, 99).is_err());
        vfs.crash(CrashMode::KeepUnsynced);
        let back = current::read(&vfs).unwrap();
        if back.manifest == 99 {
            assert_eq!(back.damaged_slots, 0);
        } else {
            assert_eq!(back.manifest, cur.manifest);
            damaged += usize::from(back.damaged_slots);
        }
    }
    assert!(damaged > 50, "{damaged}");
}
