//! Files in a database directory that the engine did not write survive every CLI command:
//! a user's `000900.sst` (named like a table), `000001.wal` (named like a WAL the manifest no
//! longer needs), `MANIFEST-000003` and `README.txt`. Each command runs, then every stray is
//! compared byte for byte; `verify` reports them as not the database's (and the backup and
//! checkpoint made with strays in the source restore and verify cleanly). A stray named like a
//! WAL the database would have to replay (`000901.wal`, above the log number) is refused by
//! open and by verify alike, and removed by neither.
#![cfg(not(target_os = "wasi"))]

#[path = "../../tests/wasi_support/mod.rs"]
mod wasi_support;

mod cli_support;

use cli_support::*;
use std::path::Path;
use wasi_support::{files_matching, TestDir};

const STRAYS: [(&str, &[u8]); 4] = [
    ("000900.sst", b"my own notes, not a table"),
    ("000001.wal", b"not a WAL either"),
    ("MANIFEST-000003", b"nor a manifest"),
    ("README.txt", b"hello"),
];

#[track_caller]
fn assert_strays_intact(dir: &Path, after: &str) {
    for (name, bytes) in STRAYS {
        let got = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("after {after}: {name} is gone ({e})"));
        assert_eq!(got, bytes, "after {after}: {name} changed");
    }
}

#[test]
fn stray_files_survive_every_command() {
    let t = TestDir::new("cli-strays");
    let dir = t.join("db");
    let db = p(&dir);
    // Two opens: the creation's WAL 1 and manifest 3 are gone, the log number is past them.
    ok(&["put", db, "a", "1"]);
    ok(&["put", db, "b", "2"]);
    for (name, _) in STRAYS {
        assert!(
            !dir.join(name).exists(),
            "{name} is a real file of the database"
        );
    }
    for (name, bytes) in STRAYS {
        std::fs::write(dir.join(name), bytes).expect("write stray");
    }
    let export = t.join("export.txt");
    let backup = t.join("backup.cairn");
    let checkpoint = t.join("checkpoint");
    let input = t.join("in.txt");
    std::fs::write(&input, "6b31\t7631\n6b32\t7632\n").expect("write input");
    let steps: Vec<Vec<&str>> = vec![
        vec!["put", db, "c", "3"],
        vec!["get", db, "a"],
        vec!["delete", db, "b"],
        vec!["scan", db],
        vec!["stats", db],
        vec!["stats", db, "--scan"],
        vec!["dump-manifest", db],
        vec!["verify", db],
        vec!["compact", db],
        vec!["import", db, p(&input)],
        vec!["export", db, p(&export)],
        vec!["backup", db, p(&backup)],
        vec!["checkpoint", db, p(&checkpoint)],
        vec!["bench", db, "--num", "3000", "--value-size", "32"],
        vec!["compact", db],
        vec!["verify", db],
    ];
    for args in &steps {
        ok(args);
        assert_strays_intact(&dir, &args.join(" "));
        // The dump commands on the database's own files, between the others.
        for w in files_matching(&dir, |n| n.ends_with(".wal") && n != "000001.wal") {
            ok(&["dump-wal", p(&dir.join(&w))]);
        }
        for s in files_matching(&dir, |n| n.ends_with(".sst") && n != "000900.sst") {
            ok(&["dump-sst", p(&dir.join(&s)), "--summary"]);
        }
        assert_strays_intact(&dir, "dump-wal and dump-sst");
    }
    let v = ok(&["verify", db]);
    for (name, _) in STRAYS {
        assert!(
            v.contains(&format!(
                "note: {name}: not a file of this database (left alone)"
            )),
            "verify does not report {name}:\n{v}"
        );
    }
    // And exactly the files an open leaves alone and lists.
    let mut noted: Vec<String> = v
        .lines()
        .filter_map(|l| l.strip_prefix("note: "))
        .filter_map(|l| l.strip_suffix(": not a file of this database (left alone)"))
        .map(String::from)
        .collect();
    noted.sort();
    let copy = t.join("copy");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for n in files_matching(&dir, |_| true) {
        std::fs::copy(dir.join(&n), copy.join(&n)).expect("copy");
    }
    let opened = cairn::Db::open_with(&copy, cairn::Options::default().create_if_missing(false))
        .expect("open the copy");
    let mut unknown = opened.recovery_report().unknown_files;
    unknown.sort();
    opened.close().expect("close");
    assert_eq!(
        noted, unknown,
        "verify and open disagree on the unknown files"
    );
    assert_eq!(ok(&["get", db, "k1"]), "v1\n");
    assert_eq!(ok(&["get", db, "c"]), "3\n");
    let restored = t.join("restored");
    ok(&["restore", p(&backup), p(&restored)]);
    for copy in [&restored, &checkpoint] {
        assert!(ok(&["verify", p(copy)]).trim_end().ends_with("OK"));
        assert_eq!(ok(&["get", p(copy), "k2"]), "v2\n");
    }
}

#[test]
fn a_stray_named_like_a_wal_to_replay_is_refused_by_open_and_verify_and_kept() {
    let t = TestDir::new("cli-stray-wal");
    let dir = t.join("db");
    let db = p(&dir);
    ok(&["put", db, "a", "1"]);
    std::fs::write(dir.join("000901.wal"), b"a user's file, not a WAL").expect("write");
    for args in [
        vec!["get", db, "a"],
        vec!["verify", db],
        vec!["put", db, "b", "2"],
    ] {
        let o = cairn(&args);
        assert_eq!(o.status.code(), Some(5), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("000901.wal"),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            std::fs::read(dir.join("000901.wal")).expect("kept"),
            b"a user's file, not a WAL"
        );
    }
    // Moved away, the database is whole again.
    std::fs::remove_file(dir.join("000901.wal")).expect("rm");
    assert_eq!(ok(&["get", db, "a"]), "1\n");
}
