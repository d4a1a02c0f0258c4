//! Test helpers that work natively and under WASI.
//!
//! On WASI `std::env::temp_dir()` panics and there is no process id; tests get their scratch
//! directories from `$CAIRN_TEST_DIR` (the runner `scripts/wasmtime-run.py` preopens a fresh
//! host directory as `/tmp` and sets `CAIRN_TEST_DIR=/tmp`). Natively `$CAIRN_TEST_DIR` is
//! used when set, else the system temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory scratch directories are made in.
pub fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CAIRN_TEST_DIR") {
        return PathBuf::from(d);
    }
    if cfg!(target_os = "wasi") {
        panic!("set CAIRN_TEST_DIR to a preopened directory (scripts/wasmtime-run.py does)");
    }
    std::env::temp_dir()
}

/// A fresh directory, removed (with its contents) when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Makes `$base/cairn-<name>-<unique>`.
    pub fn new(name: &str) -> TestDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let pid = if cfg!(target_os = "wasi") {
            0
        } else {
            std::process::id()
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base_dir().join(format!("cairn-{name}-{pid}-{nanos}-{n}"));
        std::fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory (not created).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Copies every file of directory `from` into `to` (created), flat.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Names of the files in `dir` that satisfy `pred`, sorted.
pub fn files_matching(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| pred(n))
        .collect();
    v.sort();
    v
}
