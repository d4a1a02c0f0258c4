//! Real-process kills: `crash_child` writes to `cairn::Db` on a real directory from 1–4
//! threads, reporting every issue and acknowledgement on stdout; the test `SIGKILL`s it after
//! a random number of acknowledgements, reopens the database and checks, per thread:
//!
//! - the thread's keys equal the state after a prefix `1..=L` of its writes (no hole, no
//!   resurrected delete, no torn batch), with `L` at most the last write it issued;
//! - `L` covers every synced write the thread had acknowledged, and every write of *any*
//!   thread acknowledged before a synced write was issued (a sync covers everything committed
//!   before it);
//! - `L` never goes back between kills (what a reopen recovered is durable).
//!
//! The same directory is reused across kills, so later kills hit a database with tables,
//! compactions and a rewritten manifest. A process kill keeps what reached the OS, so this
//! checks the engine's ordering and recovery on real files; machine crashes are covered by
//! the `FaultVfs` tests. `CAIRN_KILL_SEED` and `CAIRN_KILLS` change the seed and count.
#![cfg(unix)]

use cairn::Db;
use cairn_tests::proc_model::{bounds, check_threads, child_options, Line};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_at_random_points_loses_nothing_acknowledged() {
    let seed = env_u64("CAIRN_KILL_SEED", 0x5161_4B11);
    let kills = env_u64("CAIRN_KILLS", 60);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut recovered: BTreeMap<u32, u64> = BTreeMap::new();
    let mut survived = 0u64;
    let mut acks_total = 0u64;
    for kill in 0..kills {
        let threads: u32 = rng.gen_range(1..=4);
        let target_acks: usize = rng.gen_range(1..=400);
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_child"))
            .arg(dir.path())
            .arg(threads.to_string())
            .arg(rng.gen::<u32>().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crash_child");
        let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
        let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stdout = child.stdout.take().expect("stdout");
        let reader = {
            let lines = lines.clone();
            let acks = acks.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stdout).lines() {
                    let Ok(l) = l else { break };
                    if let Some(p) = Line::parse(&l) {
                        if matches!(p, Line::Ack(..)) {
                            acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        lines.lock().expect("lines").push(p);
                    }
                }
            })
        };
        // Wait for the chosen number of acknowledgements (or the child's death), plus a
        // random extra moment, then SIGKILL.
        loop {
            if acks.load(std::sync::atomic::Ordering::Relaxed) >= target_acks {
                break;
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("kill {kill}: crash_child exited on its own ({status}): {err}");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        reader.join().expect("reader");
        let lines = lines.lock().expect("lines").clone();

        // Reopen in this process and check every thread.
        let b = bounds(&lines, &recovered);
        acks_total += b.acks;
        let db = Db::open_with(dir.path(), child_options())
            .unwrap_or_else(|e| panic!("kill {kill} (seed {seed:#x}): reopen failed: {e}"));
        let mut all: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for r in db.iter() {
            let (k, v) = r.expect("scan");
            all.insert(k, v);
        }
        recovered = check_threads(&all, 4, &b)
            .unwrap_or_else(|e| panic!("kill {kill} (seed {seed:#x}): {e}"));
        db.close().expect("close");
        drop(db);
        survived += 1;
    }
    eprintln!(
        "process kills survived: {survived}, acknowledgements checked: {acks_total}, final \
         per-thread writes: {recovered:?}"
    );
    assert_eq!(survived, kills);
}
