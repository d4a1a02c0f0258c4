//! The child of `tests/tests/kill_process.rs`: opens `cairn::Db` in DIR and writes from
//! THREADS threads until it is killed, reporting on stdout, one line each:
//!
//! - `start T C`: thread T resumes after its write C (read back from the database);
//! - `issue T C`: thread T is about to commit its write C;
//! - `ack T C S`: write C of thread T returned Ok; S is 1 if it was synced, else 0.
//!
//! Write C of thread T is one batch: `T-last = C`, `T-k{C % 16} = value(C)`, and when
//! C % 5 == 0 a delete of `T-k{(C + 8) % 16}`. See [`cairn_tests::proc_model`].
//!
//! Usage: `crash_child DIR THREADS SEED`.

use cairn::{Db, Options};
use cairn_tests::oracle::{batch_of, write_options};
use cairn_tests::proc_model::{batch_ops, child_options, key_last};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: crash_child DIR THREADS SEED");
        std::process::exit(2);
    }
    let dir = &args[1];
    let threads: u32 = args[2].parse().expect("THREADS");
    let seed: u64 = args[3].parse().expect("SEED");
    let opts: Options = child_options();
    let db = match Db::open_with(dir, opts) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("crash_child: open failed: {e}");
            std::process::exit(3);
        }
    };
    let mut handles = Vec::new();
    for t in 0..threads {
        let db = db.clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(seed ^ (u64::from(t) << 32));
            let start = match db.get(key_last(t)) {
                Ok(Some(v)) => String::from_utf8_lossy(&v).parse::<u64>().expect("last"),
                Ok(None) => 0,
                Err(e) => {
                    eprintln!("crash_child: read failed: {e}");
                    std::process::exit(4);
                }
            };
            let out = std::io::stdout();
            writeln!(out.lock(), "start {t} {start}").expect("stdout");
            for c in start + 1.. {
                let b = batch_of(&batch_ops(t, c));
                let sync = rng.gen_bool(0.3);
                writeln!(out.lock(), "issue {t} {c}").expect("stdout");
                let o = write_options(sync);
                if let Err(e) = db.write(b, o) {
                    eprintln!("crash_child: write {t}/{c} failed: {e}");
                    std::process::exit(5);
                }
                writeln!(out.lock(), "ack {t} {c} {}", u8::from(sync)).expect("stdout");
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
}
