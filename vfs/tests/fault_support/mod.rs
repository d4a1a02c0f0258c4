//! Shared helpers for the `fault_*` tests: an independent oracle of what a crash may leave.
#![allow(dead_code, clippy::unwrap_used)]

use cairn_vfs::fault::{CrashMode, PAGE_SIZE};
use cairn_vfs::{File, Vfs};
use std::collections::BTreeMap;

/// An unsynced operation, as the oracle sees it.
#[derive(Debug, Clone)]
pub enum MOp {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

pub fn write_img(img: &mut Vec<u8>, off: u64, data: &[u8]) {
    let start = off as usize;
    let end = start + data.len();
    if img.len() < end {
        img.resize(end, 0);
    }
    img[start..end].copy_from_slice(data);
}

pub fn apply(img: &mut Vec<u8>, op: &MOp) {
    match op {
        MOp::Write(off, data) => write_img(img, *off, data),
        MOp::Truncate(len) => img.resize(*len as usize, 0),
    }
}

/// True when `contents` is the durable image plus an ordered prefix of `pending`, the last
/// one possibly a torn write (and, with `garbage`, with the rest of the torn page damaged).
pub fn in_prefix_set(contents: &[u8], durable: &[u8], pending: &[MOp], garbage: bool) -> bool {
    let mut base = durable.to_vec();
    for k in 0..=pending.len() {
        if contents == base.as_slice() {
            return true;
        }
        if let Some(MOp::Write(off, data)) = pending.get(k) {
            for c in 0..data.len() {
                let mut x = base.clone();
                if c > 0 {
                    write_img(&mut x, *off, &data[..c]);
                }
                if contents == x.as_slice() {
                    return true;
                }
                if garbage {
                    let from = off + c as u64;
                    let page_end = (from / PAGE_SIZE + 1) * PAGE_SIZE;
                    let to = (off + data.len() as u64).min(page_end);
                    if to > from {
                        let want_len = x.len().max(to as usize);
                        let ok = contents.len() == want_len
                            && contents.iter().enumerate().all(|(i, b)| {
                                let i64_ = i as u64;
                                (from..to).contains(&i64_) || x.get(i) == Some(b)
                            });
                        if ok {
                            return true;
                        }
                    }
                }
            }
        }
        if let Some(op) = pending.get(k) {
            apply(&mut base, op);
        }
    }
    false
}

/// One file of the oracle (the scripts never re-create a removed name).
#[derive(Debug, Clone, Default)]
pub struct MFile {
    pub durable: Vec<u8>,
    pub pending: Vec<MOp>,
    pub live: bool,
    pub dir_durable: bool,
    /// A create/remove/sync_dir at a kill point may or may not have happened.
    pub uncertain: bool,
}

impl MFile {
    pub fn all(&self) -> Vec<u8> {
        let mut img = self.durable.clone();
        for op in &self.pending {
            apply(&mut img, op);
        }
        img
    }
}

/// The oracle: what was acknowledged, per name.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub files: BTreeMap<String, MFile>,
}

impl Model {
    pub fn create(&mut self, name: &str) {
        let f = self.files.entry(name.to_string()).or_default();
        f.live = true;
    }
    pub fn write(&mut self, name: &str, off: u64, data: &[u8]) {
        self.files
            .get_mut(name)
            .unwrap()
            .pending
            .push(MOp::Write(off, data.to_vec()));
    }
    pub fn truncate(&mut self, name: &str, len: u64) {
        self.files
            .get_mut(name)
            .unwrap()
            .pending
            .push(MOp::Truncate(len));
    }
    pub fn sync(&mut self, name: &str) {
        let f = self.files.get_mut(name).unwrap();
        f.durable = f.all();
        f.pending.clear();
    }
    pub fn remove(&mut self, name: &str) {
        self.files.get_mut(name).unwrap().live = false;
    }
    pub fn sync_dir(&mut self) {
        for f in self.files.values_mut() {
            f.dir_durable = f.live;
        }
    }

    /// Checks a post-crash directory against the oracle. `exact` also demands the one state
    /// the deterministic modes must produce.
    pub fn check<V: Vfs>(&self, vfs: &V, mode: CrashMode, exact: bool) -> Result<(), String> {
        let garbage = matches!(mode, CrashMode::TornPrefixWithGarbage { .. });
        for name in vfs.list().map_err(|e| format!("list: {e}"))? {
            if !self.files.contains_key(&name) {
                return Err(format!("unexpected file {name}"));
            }
        }
        for (name, f) in &self.files {
            let exists = vfs.exists(name).map_err(|e| format!("exists: {e}"))?;
            let must = match mode {
                CrashMode::KeepUnsynced | CrashMode::DropUnsynced => Some(f.live),
                CrashMode::DropUnsyncedAndDirOps => Some(f.dir_durable),
                _ if f.live == f.dir_durable => Some(f.live),
                _ => None,
            };
            if let Some(must) = must {
                if !f.uncertain && exists != must {
                    return Err(format!("{name}: exists={exists}, expected {must} ({f:?})"));
                }
            }
            if !exists {
                continue;
            }
            let contents = vfs
                .open(name)
                .and_then(|h| h.read_all())
                .map_err(|e| format!("read {name}: {e}"))?;
            if !in_prefix_set(&contents, &f.durable, &f.pending, garbage) {
                return Err(format!(
                    "{name}: contents {contents:?} not durable + a prefix of unsynced ({f:?})"
                ));
            }
            if exact {
                let want = match mode {
                    CrashMode::KeepUnsynced => f.all(),
                    CrashMode::DropUnsynced | CrashMode::DropUnsyncedAndDirOps => f.durable.clone(),
                    _ => continue,
                };
                if contents != want {
                    return Err(format!("{name}: contents {contents:?}, expected {want:?}"));
                }
            }
        }
        Ok(())
    }
}

/// Every crash mode, torn ones with `seed`.
pub fn all_modes(seed: u64) -> [CrashMode; 5] {
    [
        CrashMode::KeepUnsynced,
        CrashMode::DropUnsynced,
        CrashMode::DropUnsyncedAndDirOps,
        CrashMode::TornPrefix { seed },
        CrashMode::TornPrefixWithGarbage { seed },
    ]
}

/// A tiny deterministic PRNG for the tests.
pub struct TestRng(pub u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
