//! `cairn import`: all or nothing against bad input, errors that name the line, and every
//! exit code docs/CLI.md gives for it.
#![cfg(not(target_os = "wasi"))]

#[path = "../../tests/wasi_support/mod.rs"]
mod wasi_support;

mod cli_support;

use cairn::{Db, Options};
use cli_support::*;
use std::path::Path;
use wasi_support::{files_matching, TestDir};

/// `n` valid lines: key `k%06d`, value `v%d`, hex-encoded.
fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{}\t{}",
                hex(format!("k{i:06}").as_bytes()),
                hex(format!("v{i}").as_bytes())
            )
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn count(dir: &Path) -> String {
    let o = cairn(&["scan", p(dir), "--count"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn a_bad_line_anywhere_imports_nothing_and_names_the_line() {
    let t = TestDir::new("import-bad");
    let existing = t.join("existing");
    std::fs::write(t.join("seed.txt"), lines(10).join("\n")).expect("write");
    assert_eq!(
        code(&cairn(&["import", p(&existing), p(&t.join("seed.txt"))])),
        0
    );
    let before = dir_files(&existing);
    for bad_line in [1usize, 2, 1500, 3000] {
        let mut l = lines(3000);
        l[bad_line - 1] = String::from("6b65\tnot-hex");
        let file = t.join(&format!("bad{bad_line}.txt"));
        std::fs::write(&file, l.join("\n") + "\n").expect("write");
        // Into a new database: nothing is created.
        let fresh = t.join(&format!("fresh{bad_line}"));
        let o = cairn(&["import", p(&fresh), p(&file)]);
        assert_eq!(code(&o), 2, "line {bad_line}: {}", stderr(&o));
        let want = format!("bad{bad_line}.txt:{bad_line}: value is not valid hex");
        assert!(stderr(&o).contains(&want), "{want}: {}", stderr(&o));
        assert!(
            !fresh.exists(),
            "a failed import created {}",
            fresh.display()
        );
        // Into an existing database: not one byte changes.
        let o = cairn(&["import", p(&existing), p(&file)]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            dir_files(&existing) == before,
            "line {bad_line}: the database changed"
        );
        // The same from stdin.
        let o = cairn_stdin(
            &["import", p(&existing), "-"],
            &std::fs::read(&file).expect("read"),
        );
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("-:{bad_line}:")),
            "{}",
            stderr(&o)
        );
        assert!(dir_files(&existing) == before);
    }
    assert_eq!(count(&existing), "10");
}

#[test]
fn non_utf8_and_oversized_lines_are_exit_2_with_the_line() {
    let t = TestDir::new("import-utf8");
    let db = t.join("db");
    let mut input = lines(6).join("\n").into_bytes();
    input.extend_from_slice(b"\n6b\t\xff\xfe\n");
    std::fs::write(t.join("latin.txt"), &input).expect("write");
    let o = cairn(&["import", p(&db), p(&t.join("latin.txt"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("latin.txt:7: not UTF-8"),
        "{}",
        stderr(&o)
    );
    assert!(!db.exists());
    // A key over the engine's limit (64 KiB by default) is refused before anything is
    // written, with its line.
    let mut l = lines(4);
    l.insert(2, format!("{}\t00", "61".repeat(64 * 1024 + 1)));
    std::fs::write(t.join("big.txt"), l.join("\n")).expect("write");
    let o = cairn(&["import", p(&db), p(&t.join("big.txt"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("big.txt:3: key of 65537 bytes, over the limit of 65536"),
        "{}",
        stderr(&o)
    );
    assert!(!db.exists());
}

#[test]
fn every_exit_code_of_import() {
    let t = TestDir::new("import-codes");
    let input = t.join("in.txt");
    std::fs::write(
        &input,
        format!("# header\n\n{}\r\n", lines(2500).join("\r\n")),
    )
    .expect("w");
    // 0: success, creating the database; blank, comment lines and CRLF endings are fine.
    let db = t.join("db");
    let o = cairn(&["import", p(&db), p(&input)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("imported 2500 entries"));
    assert_eq!(count(&db), "2500");
    // 2: bad arguments (clap) and malformed lines (above).
    assert_eq!(code(&cairn(&["import", p(&db)])), 2);
    assert_eq!(
        code(&cairn(&["import", p(&db), p(&input), "--resume-from", "x"])),
        2
    );
    // 4: the database is locked by another process.
    {
        let held = Db::open_with(&db, Options::default()).expect("open");
        let o = cairn(&["import", p(&db), p(&input)]);
        assert_eq!(code(&o), 4, "{}", stderr(&o));
        held.close().expect("close");
    }
    // 5: the database is corrupt (a flipped bit in its current manifest's snapshot).
    let corrupt = t.join("corrupt");
    assert_eq!(code(&cairn(&["import", p(&corrupt), p(&input)])), 0);
    let m = files_matching(&corrupt, |n| n.starts_with("MANIFEST-"))
        .into_iter()
        .max()
        .expect("manifest");
    let mut b = std::fs::read(corrupt.join(&m)).expect("read");
    b[20] ^= 0x01;
    std::fs::write(corrupt.join(&m), &b).expect("write");
    let o = cairn(&["import", p(&corrupt), p(&input)]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    // 6: a manifest of an unsupported format version.
    b[20] ^= 0x01;
    b[8..12].copy_from_slice(&9u32.to_le_bytes());
    std::fs::write(corrupt.join(&m), &b).expect("write");
    let o = cairn(&["import", p(&corrupt), p(&input)]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    // 7: the input cannot be read (missing; a directory).
    let o = cairn(&["import", p(&db), p(&t.join("absent.txt"))]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    let o = cairn(&["import", p(&db), p(t.path())]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert_eq!(count(&db), "2500");
}

#[test]
fn resume_from_skips_the_lines_before_it() {
    let t = TestDir::new("import-resume");
    let db = t.join("db");
    let mut l = lines(100);
    l[0] = String::from("garbage");
    l[1] = String::from("more garbage");
    std::fs::write(t.join("in.txt"), l.join("\n")).expect("write");
    let o = cairn(&["import", p(&db), p(&t.join("in.txt"))]);
    assert_eq!(code(&o), 2);
    let o = cairn(&["import", p(&db), p(&t.join("in.txt")), "--resume-from", "3"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(count(&db), "98");
    let o = cairn(&["get", p(&db), "k000001"]);
    assert_eq!(code(&o), 8, "line 2 was skipped");
    let o = cairn(&["get", p(&db), "k000002"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "v2\n");
}
