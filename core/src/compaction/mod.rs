//! Compaction: choosing which tables to merge, and merging them.
//!
//! ## The hybrid policy
//! The newest data is **tiered**: every flush adds one sorted run to level 0, and runs may
//! overlap. Older data is **leveled**: each level `1..` is one sorted run of non-overlapping
//! tables, about `level_size_multiplier` times larger than the level above.
//!
//! **Dynamic level sizing** (RocksDB's `level_compaction_dynamic_level_bytes`, on by
//! default): the targets are derived from the actual size of the biggest level below L0
//! (normally the last): the last level's target is its size, each level above has a target
//! `multiplier` times smaller, and the *base level* is the highest level whose target is at
//! most `base_level_size`. Levels above the base level have target 0 and stay empty; L0 is
//! merged into the base level. A fresh database therefore writes L0 straight into the last
//! level, and a new level opens above the base only once the last level has grown by a factor
//! of `multiplier`. Since all levels but the last hold about `1 / (multiplier - 1)` of the
//! data, space amplification stays near 1.11 at any size.
//!
//! Work is chosen by **score**, highest first:
//! - level 0 scores `runs / l0_compaction_trigger`, or more when its bytes pass
//!   `l0_max_space_percent` of the biggest level (a space bound for small databases with
//!   big memtables). At 1 or more, the oldest runs are merged
//!   (with the overlapping tables of the output level) into the base level, or into the first
//!   non-empty level above it. When that is not possible because the output level is busy
//!   with another compaction, adjacent L0 runs of similar size are merged into one L0 run
//!   instead (**size-tiered**, see [`Options::l0_tier_size_ratio`]): only contiguous runs, so
//!   runs stay ordered newest first, and the output takes the id of the newest input run.
//! - a level `n >= 1` scores `bytes / target(n)` (a level above the base level that still
//!   holds data scores above 1 so that it drains). At 1 or more one table of level `n` is
//!   merged with the tables it overlaps in level `n + 1`: the one that rewrites the fewest
//!   bytes of level `n + 1` per byte moved. When it overlaps none, the table is moved down
//!   without rewriting (a **trivial move**), except into the last level when it holds
//!   tombstones (rewriting drops them).
//!
//! Output tables are cut at `target_table_size` and, earlier, once a table overlaps more than
//! `max_grandparent_overlap_factor * target_table_size` bytes of the level below the output
//! (LevelDB's grandparent rule), so no later compaction of one table rewrites too much.
//!
//! ## Concurrency
//! A job holds a [`Reservation`] on its input tables so that jobs running at the same time
//! never share a table, and no two jobs write into the same level (except level 0, where a
//! tiered merge of newer runs may run while the oldest runs go down). At most
//! `max(1, background_threads - 1)` leveled compactions run at once, so a background thread
//! is normally free for flushes; one tiered L0 merge may run in addition.
//!
//! ## Garbage
//! Merging uses [`crate::gc::VersionFilter`]: shadowed versions no snapshot needs are
//! dropped, and tombstones too when no snapshot needs them and no older source may hold their
//! key (for an L0 merge: the older L0 runs and every level; otherwise the levels below the
//! output, as of the version the job was picked from — data only ever moves down, so what
//! may be below then may still be below, never above).
//!
//! ## Backpressure
//! [`write_pressure`](pressure::write_pressure) turns compaction debt into a delay per write group that grows linearly
//! with the debt (L0 runs past `l0_slowdown_trigger`, frozen memtables past half of
//! `max_immutable_memtables`, estimated pending compaction bytes past
//! `soft_pending_compaction_bytes`), capped at `max_write_delay_us`. Writes stop only at
//! `max_immutable_memtables` (memory guard) or `l0_stop_trigger`.

mod job;
mod pick;
pub mod pressure;
mod targets;

pub use job::{CompactionJob, CompactionOutput};
pub use pick::{max_leveled_compactions, pick, pick_manual, scores};
pub use pressure::{pending_compaction_bytes, write_pressure, WritePressure};
pub use targets::{l0_output_level, level_target, level_targets, LevelTargets};

use crate::version::{TableMeta, Version};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// The tables a running compaction owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// File numbers of the input tables.
    pub tables: Vec<u64>,
    /// The output level.
    pub output_level: usize,
}

impl Reservation {
    fn holds(&self, number: u64) -> bool {
        self.tables.contains(&number)
    }
    /// True for a merge of L0 runs into one L0 run.
    pub fn is_l0_merge(&self) -> bool {
        self.output_level == 0
    }
}

/// A chosen compaction.
#[derive(Debug, Clone)]
pub struct Picked {
    /// Input tables per level: (level, tables). Level-0 inputs are whole runs.
    pub inputs: Vec<(usize, Vec<Arc<TableMeta>>)>,
    /// Where the output goes.
    pub output_level: usize,
    /// For an output at level 0: the run id the output takes (that of the newest input run).
    pub output_run: u64,
    /// Move the input tables down without rewriting them.
    pub trivial_move: bool,
    /// Why it was chosen.
    pub reason: String,
    /// The version it was picked from (to check deeper levels for tombstone dropping).
    pub version: Arc<Version>,
}

impl Picked {
    /// The reservation this compaction holds while it runs.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            tables: self
                .inputs
                .iter()
                .flat_map(|(_, ts)| ts.iter().map(|t| t.number))
                .collect(),
            output_level: self.output_level,
        }
    }

    /// Bytes of all input tables.
    pub fn input_bytes(&self) -> u64 {
        self.inputs
            .iter()
            .flat_map(|(_, ts)| ts.iter().map(|t| t.size))
            .sum()
    }
}
