//! Compaction: choosing which tables to merge, and merging them.
//!
//! Level 0 holds sorted runs that may overlap (each flush adds one); levels 1.. hold one
//! sorted run each. Work is chosen by score:
//! - level 0 scores `runs / l0_compaction_trigger`; at 1 or more its runs are merged, together
//!   with the overlapping tables of level 1, into level 1;
//! - level `n >= 1` scores `bytes / target(n)` with `target(1) = base_level_size` and each
//!   level `level_size_multiplier` times the one above; at 1 or more one table of level `n`
//!   (the one whose merge rewrites the fewest bytes of level `n + 1` per byte moved) is merged
//!   with the tables it overlaps in level `n + 1`. When it overlaps none, the table is moved
//!   down without rewriting (a trivial move).
//!
//! A job holds a [`Reservation`] on its input tables so that jobs running at the same time
//! never share a table. Merging uses [`crate::gc::VersionFilter`]: shadowed versions no
//! snapshot needs are dropped, and tombstones too when no deeper level may hold their key.

use crate::build::{build_tables, BuildSpec};
use crate::db::{FileNumbers, WritePressure};
use crate::error::Result;
use crate::gc::VersionFilter;
use crate::iter::{InternalIterator, MergingIterator};
use crate::level_iter::LevelIter;
use crate::options::Options;
use crate::table_cache::TableCache;
use crate::version::{AddedTable, TableMeta, Version, VersionEdit};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;

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
}

/// A chosen compaction.
#[derive(Debug, Clone)]
pub struct Picked {
    /// Input tables per level: (level, tables). Level-0 inputs are whole runs.
    pub inputs: Vec<(usize, Vec<Arc<TableMeta>>)>,
    /// Where the output goes.
    pub output_level: usize,
    /// Move the single input table down without rewriting it.
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
}

/// Target size of `level` (>= 1).
pub fn level_target(opts: &Options, level: usize) -> u64 {
    let mut t = opts.base_level_size;
    for _ in 1..level {
        t = t.saturating_mul(opts.level_size_multiplier);
    }
    t
}

/// How hard writers should be held back given the level-0 debt.
pub fn write_pressure(version: &Version, opts: &Options, _immutable: usize) -> WritePressure {
    let runs = version.l0.len();
    if runs >= opts.l0_stop_trigger {
        return WritePressure::Stop;
    }
    if runs >= opts.l0_slowdown_trigger {
        // Grows smoothly from 50 µs at the slowdown trigger to ~5 ms just before the stop.
        let span = (opts.l0_stop_trigger - opts.l0_slowdown_trigger + 1) as u64;
        let over = (runs - opts.l0_slowdown_trigger + 1) as u64;
        let delay = 50 + 5_000 * over * over / (span * span);
        return WritePressure::Slowdown(delay);
    }
    WritePressure::None
}

fn reserved(reservations: &[Reservation], number: u64) -> bool {
    reservations.iter().any(|r| r.holds(number))
}

fn level_busy(reservations: &[Reservation], version: &Version, level: usize) -> bool {
    version
        .tables_at(level)
        .iter()
        .any(|t| reserved(reservations, t.number))
        || reservations.iter().any(|r| r.output_level == level)
}

fn overlapping(tables: &[Arc<TableMeta>], lo: &[u8], hi: &[u8]) -> Vec<Arc<TableMeta>> {
    tables
        .iter()
        .filter(|t| t.overlaps(Some(lo), Some(hi)))
        .cloned()
        .collect()
}

fn user_range(tables: &[Arc<TableMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = tables.iter().map(|t| t.smallest_user_key()).min()?;
    let hi = tables.iter().map(|t| t.largest_user_key()).max()?;
    Some((Vec::from(lo), Vec::from(hi)))
}

/// Chooses the most urgent compaction that does not collide with running ones.
pub fn pick(version: &Version, opts: &Options, reservations: &[Reservation]) -> Option<Picked> {
    let mut scores: Vec<(f64, usize)> = Vec::new();
    let l0 = version.l0.len() as f64 / opts.l0_compaction_trigger as f64;
    scores.push((l0, 0));
    let last = version.num_levels() - 1;
    for level in 1..last {
        let s = version.level_size(level) as f64 / level_target(opts, level) as f64;
        scores.push((s, level));
    }
    scores.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(core::cmp::Ordering::Equal));
    for (score, level) in scores {
        if score < 1.0 {
            break;
        }
        let picked = if level == 0 {
            pick_l0(version, reservations)
        } else {
            pick_level(version, level, reservations)
        };
        if let Some(mut p) = picked {
            p.reason = format!("level {level} score {score:.2}");
            return Some(p);
        }
    }
    None
}

fn pick_l0(version: &Version, reservations: &[Reservation]) -> Option<Picked> {
    if version.l0.is_empty()
        || level_busy(reservations, version, 0)
        || level_busy(reservations, version, 1)
    {
        return None;
    }
    let l0: Vec<Arc<TableMeta>> = version.tables_at(0);
    let (lo, hi) = user_range(&l0)?;
    let l1 = overlapping(&version.tables_at(1), &lo, &hi);
    Some(Picked {
        inputs: alloc::vec![(0, l0), (1, l1)],
        output_level: 1,
        trivial_move: false,
        reason: String::new(),
        version: Arc::new(version.clone()),
    })
}

fn pick_level(version: &Version, level: usize, reservations: &[Reservation]) -> Option<Picked> {
    if level_busy(reservations, version, level + 1) {
        return None;
    }
    let tables = version.tables_at(level);
    let next = version.tables_at(level + 1);
    let mut best: Option<(u128, Arc<TableMeta>, Vec<Arc<TableMeta>>)> = None;
    for t in &tables {
        if reserved(reservations, t.number) {
            continue;
        }
        let over = overlapping(&next, t.smallest_user_key(), t.largest_user_key());
        let over_bytes: u64 = over.iter().map(|o| o.size).sum();
        // Bytes rewritten per byte moved, scaled to stay integral.
        let cost = (u128::from(over_bytes) << 16) / u128::from(t.size.max(1));
        if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
            best = Some((cost, t.clone(), over));
        }
    }
    let (_, t, over) = best?;
    let trivial_move = over.is_empty();
    Some(Picked {
        inputs: alloc::vec![(level, alloc::vec![t]), (level + 1, over)],
        output_level: level + 1,
        trivial_move,
        reason: String::new(),
        version: Arc::new(version.clone()),
    })
}

/// A manual compaction of the tables of `level` overlapping `[start, end]` into the level
/// below; `None` if there is nothing to do at that level.
pub fn pick_manual(
    version: &Version,
    _opts: &Options,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    level: usize,
    reservations: &[Reservation],
) -> Option<Picked> {
    let last = version.num_levels() - 1;
    if level >= last {
        return None;
    }
    // Nothing below this level and nothing above: the range is already at its bottom.
    let below_empty = (level + 1..=last).all(|l| version.tables_at(l).is_empty());
    let inputs: Vec<Arc<TableMeta>> = version
        .tables_at(level)
        .into_iter()
        .filter(|t| t.overlaps(start, end))
        .collect();
    if inputs.is_empty() || inputs.iter().any(|t| reserved(reservations, t.number)) {
        return None;
    }
    if below_empty && level > 0 && inputs.iter().all(|t| t.tombstones == 0) {
        return None;
    }
    let (lo, hi) = user_range(&inputs)?;
    // Level 0 runs must go down whole (a run's tables are only ordered within it).
    let inputs = if level == 0 {
        version.tables_at(0)
    } else {
        inputs
    };
    let (lo, hi) = if level == 0 {
        user_range(&inputs)?
    } else {
        (lo, hi)
    };
    let next = overlapping(&version.tables_at(level + 1), &lo, &hi);
    if next.iter().any(|t| reserved(reservations, t.number)) {
        return None;
    }
    Some(Picked {
        inputs: alloc::vec![(level, inputs), (level + 1, next)],
        output_level: level + 1,
        trivial_move: false,
        reason: format!("manual compaction of level {level}"),
        version: Arc::new(version.clone()),
    })
}

/// A compaction to run.
pub struct CompactionJob<V: Vfs + Clone> {
    picked: Picked,
    vfs: V,
    opts: Arc<Options>,
    cache: Arc<TableCache<V>>,
    files: FileNumbers,
    snapshots: Vec<u64>,
}

/// What a compaction produced.
#[derive(Debug, Clone)]
pub struct CompactionOutput {
    /// The manifest edit: inputs removed, outputs added.
    pub edit: VersionEdit,
    /// Per level: (level, bytes read, bytes written).
    pub level_io: Vec<(usize, u64, u64)>,
}

impl<V: Vfs + Clone> CompactionJob<V> {
    /// Prepares `picked` to run.
    pub fn new(
        picked: Picked,
        vfs: V,
        opts: Arc<Options>,
        cache: Arc<TableCache<V>>,
        files: FileNumbers,
        snapshots: Vec<u64>,
    ) -> Self {
        CompactionJob {
            picked,
            vfs,
            opts,
            cache,
            files,
            snapshots,
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        let ins: Vec<String> = self
            .picked
            .inputs
            .iter()
            .map(|(l, ts)| format!("L{l}x{}", ts.len()))
            .collect();
        format!(
            "{} -> L{} ({}){}",
            ins.join("+"),
            self.picked.output_level,
            self.picked.reason,
            if self.picked.trivial_move {
                " move"
            } else {
                ""
            }
        )
    }

    /// Merges the inputs into new tables of the output level.
    pub fn run(self) -> Result<CompactionOutput> {
        let p = &self.picked;
        let mut edit = VersionEdit::default();
        for (level, tables) in &p.inputs {
            for t in tables {
                edit.removed.push((*level as u32, t.number));
            }
        }
        if p.trivial_move {
            for (level, tables) in &p.inputs {
                if *level != p.output_level {
                    for t in tables {
                        edit.added.push(AddedTable {
                            level: p.output_level as u32,
                            run: 0,
                            meta: (**t).clone(),
                        });
                    }
                }
            }
            return Ok(CompactionOutput {
                edit,
                level_io: Vec::new(),
            });
        }
        // Sources: every level-0 run separately, each other level as one run.
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for (level, tables) in &p.inputs {
            if tables.is_empty() {
                continue;
            }
            if *level == 0 {
                for run in &p.version.l0 {
                    let ts: Vec<_> = run
                        .tables
                        .iter()
                        .filter(|t| tables.iter().any(|x| x.number == t.number))
                        .cloned()
                        .collect();
                    if !ts.is_empty() {
                        children.push(Box::new(LevelIter::new(
                            self.cache.clone(),
                            ts,
                            false,
                            None,
                        )));
                    }
                }
            } else {
                children.push(Box::new(LevelIter::new(
                    self.cache.clone(),
                    tables.clone(),
                    false,
                    None,
                )));
            }
        }
        let mut merged = MergingIterator::new(children);
        let mut filter = VersionFilter::new(self.snapshots.clone());
        let version = p.version.clone();
        let out_level = p.output_level;
        let below_may_hold = move |user_key: &[u8]| {
            (out_level + 1..version.num_levels()).any(|l| {
                version
                    .tables_at(l)
                    .iter()
                    .any(|t| t.contains_user_key(user_key))
            })
        };
        let files = self.files.clone();
        let mut allocate = move || files.allocate();
        let outputs = build_tables(
            &self.vfs,
            &self.opts,
            &mut merged,
            &mut filter,
            BuildSpec {
                target_size: self.opts.target_table_size,
                allocate: &mut allocate,
                below_may_hold: &below_may_hold,
            },
        )?;
        let mut level_io = Vec::new();
        for (level, tables) in &p.inputs {
            level_io.push((*level, tables.iter().map(|t| t.size).sum::<u64>(), 0));
        }
        let written: u64 = outputs.iter().map(|t| t.size).sum();
        level_io.push((p.output_level, 0, written));
        for meta in outputs {
            edit.added.push(AddedTable {
                level: p.output_level as u32,
                run: 0,
                meta,
            });
        }
        Ok(CompactionOutput { edit, level_io })
    }
}
