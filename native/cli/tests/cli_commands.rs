//! The `cairn` CLI end to end: every command, its output and its exit code. Spawns the
//! binary, so it does not run on WASI (no processes there); `scripts/test-wasi.sh` runs the
//! WASI build of the CLI against databases written natively instead.
#![cfg(not(target_os = "wasi"))]

// The scratch-directory helpers of the `cairn` crate's tests (one copy for both crates).
#[path = "../../tests/wasi_support/mod.rs"]
mod wasi_support;

mod cli_support;

use cairn::{Db, Options, WriteOptions};
use cli_support::*;
use std::path::Path;
use wasi_support::{files_matching, TestDir};

/// A closed database with flushed tables plus unflushed WAL entries.
fn fixture(dir: &Path, n: u32) {
    let db = Db::open_with(
        dir,
        Options::default()
            .write_buffer_size(64 << 10)
            .background_threads(0),
    )
    .expect("open");
    for i in 0..n {
        db.put_with(
            format!("key{i:06}").as_bytes(),
            format!("value-{i}").as_bytes(),
            WriteOptions::NO_SYNC,
        )
        .expect("put");
    }
    db.flush().expect("flush");
    db.put(b"wal-only", b"in the log").expect("put");
    db.close().expect("close");
}

#[test]
fn put_get_delete_scan_round_trip() {
    let t = TestDir::new("cli-basic");
    let db = t.join("db");
    let db = p(&db);
    ok(&["put", db, "alpha", "1"]);
    ok(&["put", db, "beta", "2"]);
    ok(&["put", db, "-dash", "value with spaces"]);
    ok(&["--hex", "put", db, "00ff", "0x0102"]);
    assert_eq!(ok(&["get", db, "alpha"]), "1\n");
    assert_eq!(ok(&["get", db, "-dash"]), "value with spaces\n");
    assert_eq!(ok(&["--hex", "get", db, "00ff"]), "0x0102\n");
    assert_eq!(
        ok(&["--hex", "--format", "hex", "get", db, "00FF"]),
        "0102\n"
    );
    assert_eq!(
        ok(&["scan", db]),
        "0x00ff\t0x0102\n-dash\tvalue with spaces\nalpha\t1\nbeta\t2\n"
    );
    assert_eq!(
        ok(&["scan", db, "--reverse", "--limit", "2", "--keys-only"]),
        "beta\nalpha\n"
    );
    assert_eq!(
        ok(&["scan", db, "--from", "alpha", "--to", "beta"]),
        "alpha\t1\n"
    );
    assert_eq!(ok(&["scan", db, "--prefix", "be"]), "beta\t2\n");
    assert_eq!(
        ok(&["scan", db, "--prefix", "a", "--from", "a", "--to", "z"]),
        "alpha\t1\n"
    );
    assert_eq!(ok(&["scan", db, "--count"]), "4\n");
    ok(&["delete", db, "alpha"]);
    let o = cairn(&["get", db, "alpha"]);
    assert_eq!(code(&o), 8, "missing key");
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("key not found"), "{}", stderr(&o));
}

#[test]
fn read_commands_never_create_a_database() {
    let t = TestDir::new("cli-missing");
    let missing = t.join("nope");
    for args in [
        vec!["get", p(&missing), "k"],
        vec!["scan", p(&missing)],
        vec!["stats", p(&missing)],
        vec!["verify", p(&missing)],
        vec!["dump-manifest", p(&missing)],
        vec!["delete", p(&missing), "k"],
        vec!["export", p(&missing), "-"],
        vec!["compact", p(&missing)],
    ] {
        let o = cairn(&args);
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no database"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    // An existing but empty directory is not a database either.
    std::fs::create_dir_all(&missing).expect("mkdir");
    let o = cairn(&["get", p(&missing), "k"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(files_matching(&missing, |n| n != "LOCK").is_empty());
}

#[test]
fn a_database_open_elsewhere_is_reported_locked() {
    let t = TestDir::new("cli-locked");
    let dir = t.join("db");
    fixture(&dir, 10);
    let db = Db::open_with(&dir, Options::default()).expect("open");
    // Writing commands need the lock; the read commands open read-only and go on (see
    // `read_commands_work_while_a_writer_holds_the_database_and_change_nothing`).
    for args in [
        vec!["put", p(&dir), "k", "v"],
        vec!["delete", p(&dir), "k"],
        vec!["compact", p(&dir)],
    ] {
        let o = cairn(&args);
        assert_eq!(code(&o), 4, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("locked"), "{}", stderr(&o));
    }
    assert_eq!(ok(&["get", p(&dir), "key000001"]), "value-1\n");
    db.close().expect("close");
    drop(db);
    assert_eq!(ok(&["get", p(&dir), "key000001"]), "value-1\n");
}

#[test]
fn bad_arguments_exit_2() {
    let t = TestDir::new("cli-args");
    let db = t.join("db");
    for args in [
        vec!["frobnicate"],
        vec!["get"],
        vec!["scan", p(&db), "--limit", "many"],
        vec!["--hex", "put", p(&db), "abc", "00"],
        vec!["--hex", "put", p(&db), "zz", "00"],
        vec!["--format", "base64", "get", p(&db), "k"],
    ] {
        let o = cairn(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    assert!(!db.exists(), "a rejected command created the database");
    let help = ok(&["--help"]);
    for cmd in [
        "put",
        "get",
        "delete",
        "scan",
        "stats",
        "dump-wal",
        "dump-sst",
        "dump-manifest",
        "verify",
        "compact",
        "import",
        "export",
        "bench",
        "Exit codes",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

#[test]
fn import_export_round_trip_binary_keys() {
    let t = TestDir::new("cli-impexp");
    let db = t.join("db");
    let mut input = String::from("# comment\n\n");
    for i in 0..3000u32 {
        input.push_str(&format!(
            "{:08x}ff00\t{}\r\n",
            i,
            "ab".repeat((i % 50) as usize)
        ));
    }
    std::fs::write(t.join("in.txt"), &input).expect("write input");
    let out = ok(&["import", p(&db), p(&t.join("in.txt"))]);
    assert!(out.contains("imported 3000 entries"), "{out}");
    ok(&["export", p(&db), p(&t.join("out.txt"))]);
    let exported = std::fs::read_to_string(t.join("out.txt")).expect("read export");
    let lines: Vec<&str> = exported.lines().filter(|l| !l.starts_with('#')).collect();
    let expected: Vec<String> = input
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    assert_eq!(lines, expected);
    // Export to stdout and import from stdin into a second database: same contents.
    let o = cairn(&["export", p(&db), "-"]);
    assert_eq!(code(&o), 0);
    let db2 = t.join("db2");
    let o2 = cairn_stdin(&["import", p(&db2), "-"], &o.stdout);
    assert_eq!(code(&o2), 0, "{}", stderr(&o2));
    assert_eq!(ok(&["export", p(&db2), "-"]), stdout(&o));
    assert_eq!(ok(&["scan", p(&db2), "--count"]), "3000\n");
    // A malformed line names the file and line, exit 2.
    std::fs::write(t.join("bad.txt"), "6b\t76\nnot hex\n").expect("write");
    let o = cairn(&["import", p(&db), p(&t.join("bad.txt"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.txt:2"), "{}", stderr(&o));
    // A missing input file is an I/O error.
    let o = cairn(&["import", p(&db), p(&t.join("absent.txt"))]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
}

#[test]
fn stats_and_dumps_describe_the_files() {
    let t = TestDir::new("cli-dumps");
    let dir = t.join("db");
    fixture(&dir, 5000);
    let stats = ok(&["stats", p(&dir), "--scan"]);
    for needle in [
        "L0",
        "sequence",
        "space amplification",
        "read amplification",
        "live keys",
    ] {
        assert!(stats.contains(needle), "stats lacks {needle}:\n{stats}");
    }
    assert!(stats.contains("live keys            5001"), "{stats}");
    let manifest = ok(&["dump-manifest", p(&dir)]);
    assert!(manifest.contains("CURRENT    -> MANIFEST-"), "{manifest}");
    assert!(manifest.contains("(snapshot)"), "{manifest}");
    let tables = files_matching(&dir, |n| n.ends_with(".sst"));
    assert!(!tables.is_empty());
    let sst = dir.join(&tables[0]);
    let dump = ok(&["dump-sst", p(&sst), "--limit", "3"]);
    for needle in [
        "footer",
        "properties",
        "bloom",
        "bits/entry",
        "measured",
        "block 0 @0",
        "@",
    ] {
        let needle = if needle == "properties" {
            "entries"
        } else {
            needle
        };
        assert!(dump.contains(needle), "dump-sst lacks {needle}:\n{dump}");
    }
    assert!(dump.contains("--limit 3 reached"), "{dump}");
    let summary = ok(&["dump-sst", p(&sst), "--summary"]);
    assert!(!summary.contains("block 0"), "{summary}");
    // Every open flushes what it recovered into tables, so write the put the WAL dump should
    // show last.
    ok(&["put", p(&dir), "wal-only", "in the log"]);
    let wals = files_matching(&dir, |n| n.ends_with(".wal"));
    let mut saw_record = false;
    for w in &wals {
        let d = ok(&["dump-wal", p(&dir.join(w))]);
        saw_record |= d.contains("PUT wal-only\tin the log");
    }
    assert!(saw_record, "no WAL shows the unflushed put");
}

#[test]
fn verify_passes_on_a_good_database_and_names_file_and_offset_on_corruption() {
    let t = TestDir::new("cli-verify");
    let dir = t.join("db");
    fixture(&dir, 5000);
    let out = ok(&["verify", p(&dir)]);
    assert!(out.trim_end().ends_with("OK"), "{out}");
    // verify changes nothing: the same files, byte for byte.
    let before: Vec<(String, Vec<u8>)> = files_matching(&dir, |n| n != "LOCK")
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).expect("read")))
        .collect();
    ok(&["verify", p(&dir)]);
    let after: Vec<(String, Vec<u8>)> = files_matching(&dir, |n| n != "LOCK")
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).expect("read")))
        .collect();
    assert!(before == after, "verify modified the database");

    // A flipped bit in the first data block of a table.
    let tables = files_matching(&dir, |n| n.ends_with(".sst"));
    let sst = dir.join(&tables[0]);
    let mut bytes = std::fs::read(&sst).expect("read");
    bytes[10] ^= 0x04;
    std::fs::write(&sst, &bytes).expect("write");
    let o = cairn(&["verify", p(&dir)]);
    assert_eq!(code(&o), 5, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&tables[0]), "{err}");
    assert!(err.contains("at offset 0"), "{err}");
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn verify_reports_wal_damage_with_offset_and_leaves_the_wal_alone() {
    let t = TestDir::new("cli-verify-wal");
    let dir = t.join("db");
    {
        let db = Db::open_with(&dir, Options::default().background_threads(0)).expect("open");
        for i in 0..20u32 {
            db.put(format!("k{i}").as_bytes(), b"v").expect("put");
        }
        db.close().expect("close");
    }
    // The WAL holding the 20 records: flip a byte of the first record's payload.
    let wals = files_matching(&dir, |n| n.ends_with(".wal"));
    let full = wals
        .iter()
        .find(|w| std::fs::metadata(dir.join(w)).expect("stat").len() > 16)
        .expect("a WAL with records");
    let path = dir.join(full);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[16 + 9 + 14] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let o = cairn(&["verify", p(&dir)]);
    assert_eq!(code(&o), 5, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(full.as_str()), "{}", stderr(&o));
    assert!(stderr(&o).contains("at offset 16"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "verify changed the WAL"
    );
    let o = cairn(&["dump-wal", p(&path)]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    // A torn tail (truncated last record) is a note, not a failure.
    std::fs::write(&path, {
        let mut good = bytes.clone();
        good[16 + 9 + 14] ^= 0x01;
        good.truncate(good.len() - 3);
        good
    })
    .expect("write");
    let out = ok(&["verify", p(&dir)]);
    assert!(out.contains("torn tail"), "{out}");
}

#[test]
fn unsupported_format_version_exits_6() {
    let t = TestDir::new("cli-version");
    let dir = t.join("db");
    fixture(&dir, 100);
    let m = files_matching(&dir, |n| n.starts_with("MANIFEST-"));
    let path = dir.join(&m[0]);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    // Writing commands need the lock; the read commands open read-only and go on (see
    // `read_commands_work_while_a_writer_holds_the_database_and_change_nothing`).
    for args in [vec!["put", p(&dir), "k", "v"], vec!["verify", p(&dir)]] {
        let o = cairn(&args);
        assert_eq!(code(&o), 6, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("format version 7"), "{}", stderr(&o));
    }
}

#[test]
fn compact_and_bench_run() {
    let t = TestDir::new("cli-bench");
    let dir = t.join("db");
    let out = ok(&["bench", p(&dir), "--num", "20000", "--value-size", "64"]);
    for needle in ["fillrandom", "readrandom", "scan", "p99", "ops/s"] {
        assert!(out.contains(needle), "bench lacks {needle}:\n{out}");
    }
    let out = ok(&["compact", p(&dir)]);
    assert!(out.contains("compacted"), "{out}");
    assert_eq!(ok(&["scan", p(&dir), "--count"]), "20000\n");
    ok(&["verify", p(&dir)]);
    let o = cairn(&["bench", p(&dir), "--key-size", "4"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn backup_and_restore_round_trip_and_refuse_damage() {
    let t = TestDir::new("cli-backup");
    let dir = t.join("db");
    let file = t.join("db.cairnbak");
    ok(&["bench", p(&dir), "--num", "3000", "--value-size", "16"]);
    ok(&["put", p(&dir), "last", "1"]);
    let out = ok(&["backup", p(&dir), p(&file)]);
    assert!(out.contains("backup in"), "{out}");
    // An existing backup file is never overwritten (exit 7: it cannot be created).
    assert_eq!(code(&cairn(&["backup", p(&dir), p(&file)])), 7);
    let restored = t.join("restored");
    let out = ok(&["restore", p(&file), p(&restored)]);
    assert!(out.contains("restored in"), "{out}");
    assert_eq!(ok(&["scan", p(&restored), "--count"]), "3001\n");
    assert_eq!(ok(&["get", p(&restored), "last"]), "1\n");
    ok(&["verify", p(&restored)]);
    // Restoring over a database: refused (exit 2).
    assert_eq!(code(&cairn(&["restore", p(&file), p(&restored)])), 2);
    // A damaged backup: corruption (exit 5), and nothing is left in the destination.
    let mut bytes = std::fs::read(&file).expect("read");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    let bad = t.join("bad.cairnbak");
    std::fs::write(&bad, &bytes).expect("write");
    let dest = t.join("from-bad");
    let o = cairn(&["restore", p(&bad), p(&dest)]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&dest).expect("dir").count(), 0);
}

#[test]
fn checkpoint_copies_a_database_that_opens_and_reads_the_same() {
    let t = TestDir::new("cli-checkpoint");
    let dir = t.join("db");
    let copy = t.join("copy");
    ok(&["bench", p(&dir), "--num", "5000", "--value-size", "32"]);
    ok(&["put", p(&dir), "last", "1"]);
    let out = ok(&["checkpoint", p(&dir), p(&copy)]);
    assert!(out.contains("checkpoint in"), "{out}");
    ok(&["put", p(&dir), "after", "2"]);
    assert_eq!(ok(&["scan", p(&copy), "--count"]), "5001\n");
    assert_eq!(ok(&["get", p(&copy), "last"]), "1\n");
    assert_eq!(code(&cairn(&["get", p(&copy), "after"])), 8);
    ok(&["verify", p(&copy)]);
    // Into a directory that holds files: refused (exit 2), and nothing in it changes.
    let before = dir_files(&copy);
    let o = cairn(&["checkpoint", p(&dir), p(&copy)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(dir_files(&copy), before);
    // From a database that does not exist: exit 3, no destination made.
    let o = cairn(&["checkpoint", p(&t.join("nope")), p(&t.join("copy2"))]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

#[test]
fn read_commands_work_while_a_writer_holds_the_database_and_change_nothing() {
    let t = TestDir::new("cli-held-open");
    let dir = t.join("db");
    // This process holds the database open for writing (and its lock) the whole time.
    let db = Db::open_with(&dir, Options::default().background_threads(0)).expect("open");
    for i in 0..500u32 {
        db.put_with(format!("k{i:04}"), format!("v{i}"), WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    db.put("late", "unflushed").expect("put");
    let before = dir_files(&dir);
    let stats = ok(&["stats", p(&dir)]);
    assert!(stats.contains("L0"), "{stats}");
    assert_eq!(ok(&["get", p(&dir), "k0042"]).trim(), "v42");
    assert_eq!(ok(&["get", p(&dir), "late"]).trim(), "unflushed");
    let scan = ok(&["scan", p(&dir), "--prefix", "k00"]);
    assert_eq!(scan.lines().count(), 100, "{scan}");
    let verified = ok(&["verify", p(&dir)]);
    assert!(verified.trim_end().ends_with("OK"), "{verified}");
    ok(&["dump-manifest", p(&dir)]);
    for w in files_matching(&dir, |n| n.ends_with(".wal")) {
        ok(&["dump-wal", p(&dir.join(w))]);
    }
    let out = t.join("export.txt");
    ok(&["export", p(&dir), p(&out)]);
    assert_eq!(
        std::fs::read_to_string(&out)
            .expect("export")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        501
    );
    assert_eq!(
        dir_files(&dir),
        before,
        "a read command changed the database"
    );
    // The writer was never disturbed.
    db.put("after", "x").expect("put after the CLI ran");
    db.close().expect("close");
}
