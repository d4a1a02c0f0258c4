//! `cairn verify` (and `dump-manifest`, `dump-wal`) against `Db::open` on the same damaged
//! databases: a bit flipped in the last manifest record after its WAL was removed, in the
//! newest WAL's last record after a clean close, torn tails after a crash (WAL and manifest),
//! a truncated table, a damaged table block. For each, verify runs on the damaged directory
//! (and must leave it byte for byte unchanged), then `Db::open` runs on a copy, and:
//!
//! - open refuses ⇒ verify exits with the code of open's error and prints its message;
//!   `dump-manifest` does too when the damage is in the manifest;
//! - open accepts ⇒ verify reports what recovery drops (the torn WAL tail with its file and
//!   offset, a torn manifest tail) and exits 0, unless a table block is damaged: then it
//!   exits 5, and reading the database fails too.
//!
//! The same agreement over every single-bit flip of every file is checked in-process by
//! `tests/tests/bitflip_files.rs` (`Db::verify` is what `cairn verify` runs).
#![cfg(not(target_os = "wasi"))]

#[path = "../../tests/wasi_support/mod.rs"]
mod wasi_support;

mod cli_support;

use cairn::{Db, Error, Options, WriteOptions};
use cairn_core::wal;
use cairn_vfs::{StdVfs, Vfs};
use cli_support::*;
use std::path::Path;
use std::process::Output;
use wasi_support::{files_matching, TestDir};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for (n, b) in dir_files(from) {
        std::fs::write(to.join(n), b).expect("copy");
    }
}

/// The exit code the CLI documents for an engine error (docs/CLI.md).
fn code_of(e: &Error) -> i32 {
    match e {
        Error::NotFound(_) => 3,
        Error::Locked(_) => 4,
        Error::Corruption { .. } => 5,
        Error::UnsupportedFormat(_) => 6,
        Error::Io(_) => 7,
        _ => 1,
    }
}

fn opts() -> Options {
    Options::default()
        .create_if_missing(false)
        .background_threads(0)
}

/// A database with a table from one flush (the manifest's last edit; the WAL it made
/// obsolete removed) and `tail` synced puts in the newest WAL, written by the engine itself;
/// closed cleanly when `close`, else left as a crash leaves it (no close marker).
fn make_db(dir: &Path, tail: u32, close: bool) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let vfs = StdVfs::new(dir).expect("vfs");
    let mut db = cairn_core::db::Db::open(vfs, opts().create_if_missing(true)).expect("open");
    for i in 0..300u32 {
        let mut b = cairn_core::WriteBatch::new();
        b.put(format!("key{i:04}"), format!("value-{i}"));
        db.write(&b, WriteOptions::NO_SYNC).expect("put");
    }
    // Only the flush: no compaction after it, so it stays the manifest's last edit.
    db.flush().expect("flush");
    for i in 0..tail {
        let mut b = cairn_core::WriteBatch::new();
        b.put(format!("tail{i}"), format!("synced-{i}"));
        db.write(&b, WriteOptions::SYNC).expect("put");
    }
    if close {
        db.close().expect("close");
    }
}

fn closed_db(dir: &Path, tail: u32) {
    make_db(dir, tail, true)
}

fn crashed_db(dir: &Path, tail: u32) {
    make_db(dir, tail, false)
}

fn newest(dir: &Path, suffix: &str) -> String {
    files_matching(dir, |n| n.ends_with(suffix))
        .into_iter()
        .max()
        .expect("a file")
}

fn manifest(dir: &Path) -> String {
    files_matching(dir, |n| n.starts_with("MANIFEST-"))
        .into_iter()
        .max()
        .expect("a manifest")
}

/// Where the records of a WAL (or the edits of a manifest: same framing) start.
fn record_starts(bytes: &[u8], header: usize) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = header;
    while pos + 9 <= bytes.len() {
        starts.push(pos);
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4")) as usize;
        pos += 9 + len;
    }
    starts
}

/// What happened to one damaged database.
struct Outcome {
    verify: Output,
    open: Result<cairn::Recovered, Error>,
    read_ok: bool,
}

/// Runs `cairn verify` on `dir` (checking it changes nothing), then opens a copy.
fn judge(t: &TestDir, dir: &Path, label: &str) -> Outcome {
    let before = dir_files(dir);
    let verify = cairn(&["verify", p(dir)]);
    assert!(
        dir_files(dir) == before,
        "{label}: verify changed the database"
    );
    let copy = t.join(&format!("{label}-copy"));
    copy_dir(dir, &copy);
    let (open, read_ok) = match Db::open_with(&copy, opts()) {
        Ok(db) => {
            let rec = db.recovery_report();
            let read_ok = db.iter().all(|r| r.is_ok());
            db.close().expect("close");
            (Ok(rec), read_ok)
        }
        Err(e) => (Err(e), false),
    };
    Outcome {
        verify,
        open,
        read_ok,
    }
}

/// The agreement every case must show.
#[track_caller]
fn assert_agree(o: &Outcome, label: &str) {
    let code = o.verify.status.code().expect("exit code");
    let out = String::from_utf8_lossy(&o.verify.stdout);
    let err = String::from_utf8_lossy(&o.verify.stderr);
    match &o.open {
        Err(e) => {
            assert_eq!(
                code,
                code_of(e),
                "{label}: open refused with {e}; verify:\n{out}{err}"
            );
            assert!(
                err.contains(&e.to_string()),
                "{label}: verify does not say what open says ({e}):\n{err}"
            );
        }
        Ok(rec) => {
            if o.read_ok {
                assert_eq!(
                    code, 0,
                    "{label}: open and reads succeed; verify:\n{out}{err}"
                );
                assert!(out.trim_end().ends_with("OK"), "{label}:\n{out}");
            } else {
                assert_eq!(code, 5, "{label}: reads fail; verify:\n{out}{err}");
            }
            match &rec.torn_wal_tail {
                Some((file, off, _)) => assert!(
                    out.contains(&format!("warning: {file}: torn tail at offset {off}")),
                    "{label}: open drops a torn tail of {file} at {off}; verify:\n{out}"
                ),
                None => assert!(!out.contains("warning:"), "{label}:\n{out}"),
            }
            match &rec.torn_manifest_tail {
                Some((file, off)) => assert!(
                    out.contains(&format!("note: {file}: torn tail at offset {off}")),
                    "{label}: open drops a torn manifest tail; verify:\n{out}"
                ),
                None => assert!(
                    !out.lines()
                        .any(|l| l.starts_with("note: MANIFEST-") && l.contains("torn tail")),
                    "{label}:\n{out}"
                ),
            }
        }
    }
}

#[test]
fn a_flip_in_the_last_manifest_record_whose_wal_was_removed_fails_open_verify_and_dump() {
    let t = TestDir::new("agree-manifest");
    let dir = t.join("db");
    closed_db(&dir, 3);
    // The flush was the last edit, and it removed the WAL it made obsolete.
    let m = manifest(&dir);
    let bytes = std::fs::read(dir.join(&m)).expect("read");
    let starts = record_starts(&bytes, 16);
    assert!(
        starts.len() >= 2,
        "the manifest has a snapshot and a flush edit"
    );
    let vfs = StdVfs::existing(&dir).expect("vfs");
    let replayed =
        cairn_core::manifest::replay(&*vfs.open_read(&m).expect("open"), &m).expect("replay");
    let flush = replayed.edits.last().expect("edits");
    let older_log = replayed.edits[..replayed.edits.len() - 1]
        .iter()
        .filter_map(|e| e.log_number)
        .next_back()
        .expect("log number");
    assert!(
        flush.log_number > Some(older_log),
        "the last edit is the flush"
    );
    assert!(
        !dir.join(cairn_core::filename::wal(older_log)).exists(),
        "the flush removed the WAL it made obsolete"
    );
    let last = *starts.last().expect("last");
    let mut tried = 0;
    for at in [
        last,
        last + 4,
        last + 9,
        (last + bytes.len()) / 2,
        bytes.len() - 1,
    ] {
        let case = t.join(&format!("m{at}"));
        copy_dir(&dir, &case);
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        std::fs::write(case.join(&m), &b).expect("write");
        let o = judge(&t, &case, &format!("manifest-flip-{at}"));
        let e = o.open.as_ref().err().unwrap_or_else(|| {
            panic!(
                "byte {at}: open accepted a flipped synced edit: {:?}\n{}",
                o.open,
                String::from_utf8_lossy(&o.verify.stdout)
            )
        });
        assert!(matches!(e, Error::Corruption { .. }), "{e}");
        assert_agree(&o, &format!("manifest byte {at}"));
        let d = cairn(&["dump-manifest", p(&case)]);
        assert_eq!(
            d.status.code(),
            Some(5),
            "dump-manifest calls it a torn tail"
        );
        assert!(String::from_utf8_lossy(&d.stderr).contains("already removed"));
        tried += 1;
    }
    assert_eq!(tried, 5);
}

#[test]
fn a_flip_in_the_newest_wal_after_a_clean_close_fails_open_verify_and_dump() {
    let t = TestDir::new("agree-wal-clean");
    let dir = t.join("db");
    closed_db(&dir, 4);
    let w = newest(&dir, ".wal");
    let bytes = std::fs::read(dir.join(&w)).expect("read");
    let starts = record_starts(&bytes, wal::FILE_HEADER_LEN);
    // The last batch record and the close marker after it.
    let last_batch = starts[starts.len() - 2];
    for at in (last_batch..bytes.len()).step_by(7) {
        let case = t.join(&format!("w{at}"));
        copy_dir(&dir, &case);
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        std::fs::write(case.join(&w), &b).expect("write");
        let o = judge(&t, &case, &format!("wal-flip-{at}"));
        let e = o.open.as_ref().expect_err("open must refuse");
        assert!(matches!(e, Error::Corruption { .. }), "{e}");
        assert_agree(&o, &format!("wal byte {at}"));
        let d = cairn(&["dump-wal", p(&case.join(&w))]);
        assert_eq!(d.status.code(), Some(5), "dump-wal at byte {at}");
    }
}

#[test]
fn torn_tails_after_a_crash_are_dropped_by_open_and_reported_by_verify() {
    let t = TestDir::new("agree-torn");
    let dir = t.join("db");
    crashed_db(&dir, 4);
    let w = newest(&dir, ".wal");
    let bytes = std::fs::read(dir.join(&w)).expect("read");
    let starts = record_starts(&bytes, wal::FILE_HEADER_LEN);
    let last = *starts.last().expect("records");
    // A crash cut the last append short at any point.
    for cut in [last + 1, last + 9, last + 20, bytes.len() - 1] {
        let case = t.join(&format!("t{cut}"));
        copy_dir(&dir, &case);
        std::fs::write(case.join(&w), &bytes[..cut]).expect("write");
        let o = judge(&t, &case, &format!("torn-{cut}"));
        let rec = o.open.as_ref().expect("open accepts a torn tail");
        assert_eq!(
            rec.torn_wal_tail.as_ref().map(|t| t.1),
            Some(last as u64),
            "cut {cut}"
        );
        assert_agree(&o, &format!("torn at {cut}"));
        let out = String::from_utf8_lossy(&o.verify.stdout);
        let dropped = cut - last;
        assert!(
            out.contains(&format!("drops its last {dropped} bytes")),
            "cut {cut}: verify must say how much is lost:\n{out}"
        );
        let d = cairn(&["dump-wal", p(&case.join(&w))]);
        assert_eq!(d.status.code(), Some(0), "dump-wal at cut {cut}");
        assert!(String::from_utf8_lossy(&d.stdout).contains("torn tail at offset"));
    }
    // The older records were synced (the last one reports them so): damage there is no torn
    // tail, even after a crash.
    let case = t.join("synced");
    copy_dir(&dir, &case);
    let mut b = bytes.clone();
    b[starts[0] + 12] ^= 0x02;
    std::fs::write(case.join(&w), &b).expect("write");
    let o = judge(&t, &case, "synced-flip");
    assert!(matches!(o.open, Err(Error::Corruption { .. })));
    assert_agree(&o, "synced record");

    // A torn manifest append (the edit's WAL still exists): dropped by open, noted by verify.
    let case = t.join("torn-manifest");
    copy_dir(&dir, &case);
    let m = manifest(&case);
    let mut mb = std::fs::read(case.join(&m)).expect("read");
    mb.extend_from_slice(&[0x55, 0x23, 0x00, 0x00, 0x40, 0x00]);
    std::fs::write(case.join(&m), &mb).expect("write");
    let o = judge(&t, &case, "torn-manifest");
    let rec = o.open.as_ref().expect("open accepts a torn manifest tail");
    assert!(rec.torn_manifest_tail.is_some());
    assert_agree(&o, "torn manifest");
    let d = cairn(&["dump-manifest", p(&case)]);
    assert_eq!(d.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&d.stdout).contains("torn tail at"));
}

#[test]
fn truncated_and_damaged_tables() {
    let t = TestDir::new("agree-sst");
    let dir = t.join("db");
    closed_db(&dir, 2);
    let sst = newest(&dir, ".sst");
    let bytes = std::fs::read(dir.join(&sst)).expect("read");
    // Truncated: open refuses (the manifest records the size), verify agrees.
    for keep in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let case = t.join(&format!("cut{keep}"));
        copy_dir(&dir, &case);
        std::fs::write(case.join(&sst), &bytes[..keep]).expect("write");
        let o = judge(&t, &case, &format!("sst-cut-{keep}"));
        assert!(
            matches!(o.open, Err(Error::Corruption { .. })),
            "keep {keep}"
        );
        assert_agree(&o, &format!("table cut to {keep}"));
    }
    // Missing: the same.
    let case = t.join("gone");
    copy_dir(&dir, &case);
    std::fs::remove_file(case.join(&sst)).expect("rm");
    let o = judge(&t, &case, "sst-gone");
    assert!(matches!(o.open, Err(Error::Corruption { .. })));
    assert_agree(&o, "table removed");
    // A flipped bit in a data block: open reads blocks lazily, so it accepts the database
    // unless the work it does while opening (flushing the replayed WAL, background work run
    // inline) reads that block, as it does here; reads fail, and verify exits 5 either way,
    // naming the block.
    let case = t.join("flip");
    copy_dir(&dir, &case);
    let mut b = bytes.clone();
    b[10] ^= 0x04;
    std::fs::write(case.join(&sst), &b).expect("write");
    let o = judge(&t, &case, "sst-flip");
    assert!(!o.read_ok, "{:?}", o.open);
    assert_agree(&o, "table block flipped");
}
