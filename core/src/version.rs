//! Versions: the set of live SSTables, by level, at one point in time.
//!
//! A [`Version`] is immutable and shared through `Arc`; every flush or compaction installs a
//! new one built from the old one plus a [`VersionEdit`]. Level 0 holds *sorted runs* that may
//! overlap each other (newest run first; each run is one or more non-overlapping tables);
//! every level below holds a single sorted run of non-overlapping tables ordered by key.

use crate::key;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;
use serde::{Deserialize, Serialize};

/// What the engine knows about one SSTable without opening it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMeta {
    /// File number (`{number:06}.sst`).
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest sequence number in the table.
    pub min_seq: u64,
    /// Largest sequence number in the table.
    pub max_seq: u64,
    /// Number of entries.
    pub entries: u64,
    /// Number of tombstones.
    pub tombstones: u64,
    /// Sum of the user key and value lengths of the entries (logical bytes).
    pub raw_bytes: u64,
}

impl TableMeta {
    /// Smallest user key.
    pub fn smallest_user_key(&self) -> &[u8] {
        key::user_key(&self.smallest)
    }
    /// Largest user key.
    pub fn largest_user_key(&self) -> &[u8] {
        key::user_key(&self.largest)
    }
    /// True when `user_key` lies within the table's key range.
    pub fn contains_user_key(&self, user_key: &[u8]) -> bool {
        user_key >= self.smallest_user_key() && user_key <= self.largest_user_key()
    }
    /// True when the table's user-key range intersects `[lo, hi]` (`None` = unbounded).
    pub fn overlaps(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
        lo.is_none_or(|lo| self.largest_user_key() >= lo)
            && hi.is_none_or(|hi| self.smallest_user_key() <= hi)
    }
}

/// A table added by an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedTable {
    /// Level the table goes to.
    pub level: u32,
    /// For level 0: the sorted run the table belongs to (tables with the same run id form one
    /// run; a higher id is a newer run). Ignored below level 0.
    pub run: u64,
    /// The table.
    pub meta: TableMeta,
}

/// One change to the version, as recorded in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEdit {
    /// WAL files numbered below this are fully reflected in tables and may be deleted.
    pub log_number: Option<u64>,
    /// The next file number to allocate.
    pub next_file_number: Option<u64>,
    /// Highest sequence number stored in tables.
    pub last_sequence: Option<u64>,
    /// Tables removed: (level, file number).
    pub removed: Vec<(u32, u64)>,
    /// Tables added.
    pub added: Vec<AddedTable>,
}

/// A sorted run: non-overlapping tables ordered by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Run id (level 0 only; 0 below).
    pub id: u64,
    /// The tables, ordered by smallest key.
    pub tables: Vec<Arc<TableMeta>>,
}

impl Run {
    /// Bytes in the run.
    pub fn size(&self) -> u64 {
        self.tables.iter().map(|t| t.size).sum()
    }

    /// Index of the table that may hold `user_key`.
    pub fn find(&self, user_key: &[u8]) -> Option<usize> {
        find_table(&self.tables, user_key)
    }
}

/// In disjoint tables ordered by key, the index of the one whose range holds `user_key`.
pub fn find_table(tables: &[Arc<TableMeta>], user_key: &[u8]) -> Option<usize> {
    // First table whose largest key >= user_key.
    let i = tables.partition_point(|t| t.largest_user_key() < user_key);
    (i < tables.len() && tables[i].smallest_user_key() <= user_key).then_some(i)
}

/// The live tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Level 0: sorted runs, newest first.
    pub l0: Vec<Run>,
    /// Levels 1..: one sorted run each (index 0 here is level 1).
    pub levels: Vec<Vec<Arc<TableMeta>>>,
}

/// Why an edit cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError(pub alloc::string::String);

impl Version {
    /// An empty version with `num_levels` levels (level 0 included).
    pub fn empty(num_levels: usize) -> Self {
        Version {
            l0: Vec::new(),
            levels: (1..num_levels.max(2)).map(|_| Vec::new()).collect(),
        }
    }

    /// Number of levels including level 0.
    pub fn num_levels(&self) -> usize {
        self.levels.len() + 1
    }

    /// Every table, with its level.
    pub fn all_tables(&self) -> impl Iterator<Item = (usize, &Arc<TableMeta>)> {
        self.l0
            .iter()
            .flat_map(|r| r.tables.iter().map(|t| (0, t)))
            .chain(
                self.levels
                    .iter()
                    .enumerate()
                    .flat_map(|(i, l)| l.iter().map(move |t| (i + 1, t))),
            )
    }

    /// Tables at `level`, in key order (for level 0: all runs, newest run first).
    pub fn tables_at(&self, level: usize) -> Vec<Arc<TableMeta>> {
        if level == 0 {
            self.l0
                .iter()
                .flat_map(|r| r.tables.iter().cloned())
                .collect()
        } else {
            self.levels.get(level - 1).cloned().unwrap_or_default()
        }
    }

    /// Bytes at `level`.
    pub fn level_size(&self, level: usize) -> u64 {
        if level == 0 {
            self.l0.iter().map(Run::size).sum()
        } else {
            self.levels
                .get(level - 1)
                .map(|l| l.iter().map(|t| t.size).sum())
                .unwrap_or(0)
        }
    }

    /// Highest run id in level 0 (0 when empty).
    pub fn max_run_id(&self) -> u64 {
        self.l0.iter().map(|r| r.id).max().unwrap_or(0)
    }

    /// Applies an edit, producing a new version. Checks that removed tables exist, that added
    /// tables are new, and that levels below 0 stay non-overlapping.
    pub fn apply(&self, edit: &VersionEdit) -> Result<Version, EditError> {
        let mut v = self.clone();
        for &(level, number) in &edit.removed {
            let level = level as usize;
            let found = if level == 0 {
                let mut found = false;
                for run in v.l0.iter_mut() {
                    if let Some(i) = run.tables.iter().position(|t| t.number == number) {
                        run.tables.remove(i);
                        found = true;
                        break;
                    }
                }
                v.l0.retain(|r| !r.tables.is_empty());
                found
            } else {
                match v.levels.get_mut(level - 1) {
                    Some(l) => match l.iter().position(|t| t.number == number) {
                        Some(i) => {
                            l.remove(i);
                            true
                        }
                        None => false,
                    },
                    None => false,
                }
            };
            if !found {
                return Err(EditError(alloc::format!(
                    "edit removes table {number} which is not at level {level}"
                )));
            }
        }
        for add in &edit.added {
            let level = add.level as usize;
            if v.all_tables().any(|(_, t)| t.number == add.meta.number) {
                return Err(EditError(alloc::format!(
                    "edit adds table {} twice",
                    add.meta.number
                )));
            }
            let meta = Arc::new(add.meta.clone());
            if level == 0 {
                match v.l0.iter_mut().find(|r| r.id == add.run) {
                    Some(run) => insert_sorted(&mut run.tables, meta),
                    None => {
                        let pos = v.l0.partition_point(|r| r.id > add.run);
                        v.l0.insert(
                            pos,
                            Run {
                                id: add.run,
                                tables: alloc::vec![meta],
                            },
                        );
                    }
                }
            } else {
                let l = v.levels.get_mut(level - 1).ok_or_else(|| {
                    EditError(alloc::format!("edit adds a table at level {level}"))
                })?;
                insert_sorted(l, meta);
            }
        }
        for (i, run) in v.l0.iter().enumerate() {
            check_disjoint(&run.tables).map_err(|e| {
                EditError(alloc::format!("level 0 run {i} overlaps itself: {}", e.0))
            })?;
        }
        for (i, l) in v.levels.iter().enumerate() {
            check_disjoint(l)
                .map_err(|e| EditError(alloc::format!("level {} overlaps: {}", i + 1, e.0)))?;
        }
        Ok(v)
    }

    /// The edit that rebuilds this version from nothing (a manifest snapshot).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut added = Vec::new();
        for run in &self.l0 {
            for t in &run.tables {
                added.push(AddedTable {
                    level: 0,
                    run: run.id,
                    meta: (**t).clone(),
                });
            }
        }
        for (i, l) in self.levels.iter().enumerate() {
            for t in l {
                added.push(AddedTable {
                    level: i as u32 + 1,
                    run: 0,
                    meta: (**t).clone(),
                });
            }
        }
        VersionEdit {
            added,
            ..VersionEdit::default()
        }
    }
}

fn insert_sorted(tables: &mut Vec<Arc<TableMeta>>, meta: Arc<TableMeta>) {
    let pos =
        tables.partition_point(|t| key::compare(&t.smallest, &meta.smallest) == Ordering::Less);
    tables.insert(pos, meta);
}

fn check_disjoint(tables: &[Arc<TableMeta>]) -> Result<(), EditError> {
    for w in tables.windows(2) {
        if w[0].largest_user_key() >= w[1].smallest_user_key() {
            return Err(EditError(alloc::format!(
                "tables {} and {}",
                w[0].number,
                w[1].number
            )));
        }
    }
    Ok(())
}
