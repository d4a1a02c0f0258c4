//! Counters and sizes the engine reports ([`crate::db::Db::stats`]), and their derived
//! amplification figures and table rendering.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Counters and sizes, see [`Db::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes held by the active memtable.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Per level: (tables, bytes). Level 0 first.
    pub levels: Vec<LevelStats>,
    /// Sorted runs in level 0.
    pub l0_runs: u64,
    /// Last sequence number visible to readers.
    pub last_sequence: u64,
    /// Bytes appended to WALs since open.
    pub wal_bytes: u64,
    /// WAL syncs since open (each may cover many writers).
    pub wal_syncs: u64,
    /// Write groups committed since open.
    pub commits: u64,
    /// Batches committed since open.
    pub batches: u64,
    /// Flushes completed since open.
    pub flushes: u64,
    /// Bytes written by flushes.
    pub flush_bytes: u64,
    /// Compactions completed since open.
    pub compactions: u64,
    /// Times writers were slowed down.
    pub write_slowdowns: u64,
    /// Times writers were stopped by the memory guard.
    pub write_stops: u64,
    /// Checkpoints begun ([`crate::Db::begin_checkpoint`]).
    pub checkpoints: u64,
    /// Times the database resumed writing after a full disk without a reopen
    /// (`Db::resume`).
    pub resumes: u64,
    /// Block cache hits.
    pub cache_hits: u64,
    /// Block cache misses.
    pub cache_misses: u64,
    /// Bytes in the block cache.
    pub cache_bytes: u64,
    /// Live snapshots.
    pub snapshots: u64,
    /// Bytes of all live tables.
    pub table_bytes: u64,
    /// Logical bytes (key + value) of all live table entries.
    pub table_raw_bytes: u64,
    /// The level L0 is merged into (dynamic level sizing).
    pub base_level: u64,
    /// Estimated bytes compaction must still rewrite to bring every level within target.
    pub pending_compaction_bytes: u64,
    /// Compactions picked that moved tables down without rewriting them.
    pub trivial_moves: u64,
    /// Size-tiered merges of L0 runs picked.
    pub l0_merges: u64,
}

/// Per-level figures in [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LevelStats {
    /// Level number.
    pub level: usize,
    /// Tables.
    pub tables: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes read by compactions from this level.
    pub compaction_read: u64,
    /// Bytes written by compactions into this level (flushes for level 0).
    pub compaction_written: u64,
    /// Target bytes of the level (0 for L0 and for levels above the base level).
    pub target_bytes: u64,
    /// Sorted runs in the level (L0: its runs; below: 1 when non-empty).
    pub runs: u64,
}

/// One live table, as [`crate::db::Db::tables`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableInfo {
    /// Level (0 is the newest data).
    pub level: usize,
    /// For level 0, the sorted run the table belongs to (a higher id is a newer run); 0 below.
    pub run: u64,
    /// File number; the file is named `{number:06}.sst`.
    pub number: u64,
    /// File size in bytes.
    pub size: u64,
    /// Entries (puts and tombstones).
    pub entries: u64,
    /// Tombstones among the entries.
    pub tombstones: u64,
    /// Sum of the key and value lengths of the entries (logical bytes).
    pub raw_bytes: u64,
    /// Smallest user key.
    pub smallest_key: Vec<u8>,
    /// Largest user key.
    pub largest_key: Vec<u8>,
    /// Smallest sequence number in the table.
    pub min_sequence: u64,
    /// Largest sequence number in the table.
    pub max_sequence: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl LevelStats {
    /// Bytes written into this level (by flushes for L0, by compactions) per byte written to
    /// the WAL.
    pub fn write_amplification(&self, wal_bytes: u64) -> f64 {
        ratio(self.compaction_written, wal_bytes)
    }
}

impl Stats {
    /// Bytes written to tables by flushes and compactions (as reported by [`Db::stats`]).
    ///
    /// [`Db::stats`]: crate::db::Db::stats
    pub fn table_bytes_written(&self) -> u64 {
        self.levels.iter().map(|l| l.compaction_written).sum()
    }

    /// Write amplification so far: bytes written to tables by flushes and compactions per byte
    /// written to the WAL (0 before any write).
    pub fn write_amplification(&self) -> f64 {
        ratio(self.table_bytes_written(), self.wal_bytes)
    }

    /// Space amplification estimate: bytes of all live tables per byte of the last non-empty
    /// level (which holds about one version of every live key once the tree is in shape).
    pub fn space_amplification(&self) -> f64 {
        let live = self
            .levels
            .iter()
            .rev()
            .find(|l| l.bytes > 0)
            .map_or(0, |l| l.bytes);
        ratio(self.table_bytes, live)
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl core::fmt::Display for Stats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{:<6} {:>5} {:>7} {:>11} {:>11} {:>11} {:>11} {:>6}",
            "level", "runs", "tables", "size", "target", "read", "written", "w-amp"
        )?;
        for l in &self.levels {
            let base = if l.level as u64 == self.base_level && l.level > 0 {
                "*"
            } else {
                " "
            };
            let target = if l.level == 0 {
                String::from("-")
            } else {
                human(l.target_bytes)
            };
            writeln!(
                f,
                "L{:<4}{} {:>5} {:>7} {:>11} {:>11} {:>11} {:>11} {:>6.2}",
                l.level,
                base,
                l.runs,
                l.tables,
                human(l.bytes),
                target,
                human(l.compaction_read),
                human(l.compaction_written),
                l.write_amplification(self.wal_bytes)
            )?;
        }
        writeln!(
            f,
            "total: {} in tables ({} logical), WAL {} written, tables {} written",
            human(self.table_bytes),
            human(self.table_raw_bytes),
            human(self.wal_bytes),
            human(self.table_bytes_written())
        )?;
        writeln!(
            f,
            "write amplification {:.2}, space amplification {:.3} (* = base level)",
            self.write_amplification(),
            self.space_amplification()
        )?;
        writeln!(
            f,
            "flushes {}, compactions {} ({} trivial moves, {} L0 merges), pending compaction {}",
            self.flushes,
            self.compactions,
            self.trivial_moves,
            self.l0_merges,
            human(self.pending_compaction_bytes)
        )?;
        write!(
            f,
            "memtable {}, frozen {}, write slowdowns {}, write stops {}, snapshots {}",
            human(self.memtable_bytes),
            self.immutable_memtables,
            self.write_slowdowns,
            self.write_stops,
            self.snapshots
        )
    }
}
