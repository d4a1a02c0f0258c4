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
//! [`write_pressure`] turns compaction debt into a delay per write group that grows linearly
//! with the debt (L0 runs past `l0_slowdown_trigger`, frozen memtables past half of
//! `max_immutable_memtables`, estimated pending compaction bytes past
//! `soft_pending_compaction_bytes`), capped at `max_write_delay_us`. Writes stop only at
//! `max_immutable_memtables` (memory guard) or `l0_stop_trigger`.

use crate::build::{build_tables, BuildSpec};
use crate::db::{FileNumbers, LevelStats, Stats, WritePressure};
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

/// Static target size of `level` (>= 1): `base_level_size * multiplier^(level - 1)`.
pub fn level_target(opts: &Options, level: usize) -> u64 {
    let mut t = opts.base_level_size;
    for _ in 1..level {
        t = t.saturating_mul(opts.level_size_multiplier);
    }
    t
}

/// Level targets of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// The level L0 is merged into.
    pub base_level: usize,
    /// Target bytes per level (index = level; level 0 and the levels above the base level
    /// have target 0).
    pub targets: Vec<u64>,
}

impl LevelTargets {
    /// Target of `level` (0 when out of range).
    pub fn target(&self, level: usize) -> u64 {
        self.targets.get(level).copied().unwrap_or(0)
    }
}

/// The level targets of `version` under `opts` (see the module docs).
pub fn level_targets(version: &Version, opts: &Options) -> LevelTargets {
    let n = version.num_levels();
    let last = n - 1;
    let mut targets = alloc::vec![0u64; n];
    if !opts.dynamic_level_sizes {
        for (l, t) in targets.iter_mut().enumerate().skip(1) {
            *t = level_target(opts, l);
        }
        return LevelTargets {
            base_level: 1,
            targets,
        };
    }
    let biggest = (1..n).map(|l| version.level_size(l)).max().unwrap_or(0);
    let mut cur = biggest.max(opts.base_level_size);
    let mut base = last;
    targets[last] = cur;
    while base > 1 && cur > opts.base_level_size {
        base -= 1;
        cur = (cur / opts.level_size_multiplier.max(2)).max(1);
        targets[base] = cur;
    }
    LevelTargets {
        base_level: base,
        targets,
    }
}

/// The level L0 is merged into: the base level, or the first level above it that holds data
/// (data above the base level is newer than the base level, so L0 may not skip it).
pub fn l0_output_level(version: &Version, targets: &LevelTargets) -> usize {
    (1..targets.base_level)
        .find(|&l| version.level_size(l) > 0)
        .unwrap_or(targets.base_level)
}

/// Estimated bytes compaction must rewrite to bring every level within its target (RocksDB's
/// estimate): L0 once it is due, plus, per level over target, its excess times the fanout
/// into the next level (the excess is carried down).
pub fn pending_compaction_bytes(version: &Version, opts: &Options) -> u64 {
    let targets = level_targets(version, opts);
    let last = version.num_levels() - 1;
    let mut total = 0u64;
    let mut carried = 0u64;
    if version.l0.len() >= opts.l0_compaction_trigger {
        let out = l0_output_level(version, &targets);
        let l0 = version.level_size(0);
        total = total
            .saturating_add(l0)
            .saturating_add(version.level_size(out));
        carried = l0;
    }
    for level in 1..last {
        let size = version.level_size(level).saturating_add(carried);
        let target = targets.target(level);
        if size > target && (target > 0 || size > 0) {
            let excess = size - target;
            let next = targets.target(level + 1).max(1);
            let fanout = next.checked_div(target).unwrap_or(1).max(1);
            total = total.saturating_add(excess.saturating_mul(fanout + 1));
            carried = excess;
        } else {
            carried = 0;
        }
    }
    total
}

/// How hard writers should be held back given the compaction debt and `immutable` frozen
/// memtables (see the module docs).
pub fn write_pressure(version: &Version, opts: &Options, immutable: usize) -> WritePressure {
    let runs = version.l0.len();
    if immutable >= opts.max_immutable_memtables || runs >= opts.l0_stop_trigger {
        return WritePressure::Stop;
    }
    let mut debt = 0.0f64;
    if runs >= opts.l0_slowdown_trigger {
        let span = (opts.l0_stop_trigger - opts.l0_slowdown_trigger + 1) as f64;
        debt = debt.max((runs - opts.l0_slowdown_trigger + 1) as f64 / span);
    }
    let imm_start = (opts.max_immutable_memtables / 2).max(2);
    if opts.max_immutable_memtables > imm_start && immutable >= imm_start {
        let span = (opts.max_immutable_memtables - imm_start + 1) as f64;
        debt = debt.max((immutable - imm_start + 1) as f64 / span);
    }
    if debt < 1.0 {
        let pending = pending_compaction_bytes(version, opts);
        if pending > opts.soft_pending_compaction_bytes {
            let span = (opts.hard_pending_compaction_bytes - opts.soft_pending_compaction_bytes)
                .max(1) as f64;
            let over = (pending - opts.soft_pending_compaction_bytes) as f64;
            debt = debt.max(over / span);
        }
    }
    if debt <= 0.0 {
        return WritePressure::None;
    }
    let debt = debt.min(1.0);
    let us = (opts.max_write_delay_us as f64 * debt) as u64;
    WritePressure::Slowdown(us.max(1))
}

fn reserved(reservations: &[Reservation], number: u64) -> bool {
    reservations.iter().any(|r| r.holds(number))
}

fn output_busy(reservations: &[Reservation], level: usize) -> bool {
    reservations.iter().any(|r| r.output_level == level)
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

/// Most leveled compactions (everything but L0 merges) allowed to run at once.
pub fn max_leveled_compactions(opts: &Options) -> usize {
    opts.background_threads.saturating_sub(1).max(1)
}

/// The score of every level that may need work, highest first: (score, level).
pub fn scores(version: &Version, opts: &Options) -> Vec<(f64, usize)> {
    let targets = level_targets(version, opts);
    let mut scores: Vec<(f64, usize)> = Vec::new();
    let last = version.num_levels() - 1;
    let mut l0 = version.l0.len() as f64 / opts.l0_compaction_trigger as f64;
    if opts.l0_max_space_percent > 0 && !version.l0.is_empty() {
        let biggest = (1..=last).map(|l| version.level_size(l)).max().unwrap_or(0);
        let budget = (biggest as f64 * opts.l0_max_space_percent as f64 / 100.0).max(1.0);
        l0 = l0.max(version.level_size(0) as f64 / budget);
    }
    scores.push((l0, 0));
    let base_target = targets.target(targets.base_level).max(1) as f64;
    for level in 1..last {
        let size = version.level_size(level);
        let target = targets.target(level);
        let s = if target == 0 {
            if size == 0 {
                0.0
            } else {
                1.0 + size as f64 / base_target
            }
        } else {
            size as f64 / target as f64
        };
        scores.push((s, level));
    }
    scores.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(core::cmp::Ordering::Equal));
    scores
}

/// Chooses the most urgent compaction that does not collide with running ones.
pub fn pick(version: &Version, opts: &Options, reservations: &[Reservation]) -> Option<Picked> {
    let leveled = reservations.iter().filter(|r| !r.is_l0_merge()).count();
    let l0_merges = reservations.iter().filter(|r| r.is_l0_merge()).count();
    let may_level = leveled < max_leveled_compactions(opts);
    let may_merge_l0 = l0_merges == 0;
    let targets = level_targets(version, opts);
    for (score, level) in scores(version, opts) {
        if score < 1.0 {
            break;
        }
        let picked = if level == 0 {
            let down = if may_level {
                pick_l0_down(version, &targets, reservations)
            } else {
                None
            };
            match down {
                Some(p) => Some(p),
                None if may_merge_l0 => pick_l0_merge(version, opts, reservations),
                None => None,
            }
        } else if may_level {
            pick_level(version, level, reservations)
        } else {
            None
        };
        if let Some(mut p) = picked {
            p.reason = format!("L{level} score {}%", (score * 100.0) as u64);
            return Some(p);
        }
    }
    None
}

/// The oldest L0 runs that no job holds, merged into the L0 output level.
fn pick_l0_down(
    version: &Version,
    targets: &LevelTargets,
    reservations: &[Reservation],
) -> Option<Picked> {
    let out = l0_output_level(version, targets);
    if output_busy(reservations, out) {
        return None;
    }
    // The oldest runs not held by a running merge, as long as they are contiguous from the
    // oldest: newer runs may stay in L0, older ones may not.
    let free_suffix = version
        .l0
        .iter()
        .rev()
        .take_while(|r| !r.tables.iter().any(|t| reserved(reservations, t.number)))
        .count();
    if free_suffix == 0 {
        return None;
    }
    let runs = &version.l0[version.l0.len() - free_suffix..];
    let l0: Vec<Arc<TableMeta>> = runs.iter().flat_map(|r| r.tables.iter().cloned()).collect();
    let (lo, hi) = user_range(&l0)?;
    let next = overlapping(&version.tables_at(out), &lo, &hi);
    if next.iter().any(|t| reserved(reservations, t.number)) {
        return None;
    }
    let last = version.num_levels() - 1;
    let trivial_move =
        runs.len() == 1 && next.is_empty() && !(out == last && l0.iter().any(|t| t.tombstones > 0));
    Some(Picked {
        inputs: alloc::vec![(0, l0), (out, next)],
        output_level: out,
        output_run: 0,
        trivial_move,
        reason: String::new(),
        version: Arc::new(version.clone()),
    })
}

/// A size-tiered merge of adjacent L0 runs no job holds (see the module docs).
fn pick_l0_merge(
    version: &Version,
    opts: &Options,
    reservations: &[Reservation],
) -> Option<Picked> {
    let runs = &version.l0;
    let free: Vec<bool> = runs
        .iter()
        .map(|r| !r.tables.iter().any(|t| reserved(reservations, t.number)))
        .collect();
    let ratio = 100 + opts.l0_tier_size_ratio;
    let mut chosen: Option<(usize, usize)> = None;
    // Newest first: start a window at each free run and grow it towards older runs while the
    // next run is not much bigger than the window.
    for start in 0..runs.len() {
        if !free[start] {
            continue;
        }
        let mut acc = runs[start].size();
        let mut end = start + 1;
        while end < runs.len() && free[end] {
            let next = runs[end].size();
            if u128::from(next) * 100 > u128::from(acc) * u128::from(ratio) {
                break;
            }
            acc = acc.saturating_add(next);
            end += 1;
        }
        if end - start >= 2 {
            chosen = Some((start, end));
            break;
        }
    }
    if chosen.is_none() && runs.len() >= opts.l0_slowdown_trigger {
        // No similar sizes but too many runs: merge the longest block of free runs.
        let mut best: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < runs.len() {
            if !free[i] {
                i += 1;
                continue;
            }
            let s = i;
            while i < runs.len() && free[i] {
                i += 1;
            }
            if i - s >= 2 && best.is_none_or(|(bs, be)| i - s > be - bs) {
                best = Some((s, i));
            }
        }
        chosen = best;
    }
    let (start, end) = chosen?;
    let tables: Vec<Arc<TableMeta>> = runs[start..end]
        .iter()
        .flat_map(|r| r.tables.iter().cloned())
        .collect();
    Some(Picked {
        inputs: alloc::vec![(0, tables)],
        output_level: 0,
        output_run: runs[start].id,
        trivial_move: false,
        reason: String::new(),
        version: Arc::new(version.clone()),
    })
}

fn pick_level(version: &Version, level: usize, reservations: &[Reservation]) -> Option<Picked> {
    let out = level + 1;
    if output_busy(reservations, out) || output_busy(reservations, level) {
        return None;
    }
    let tables = version.tables_at(level);
    let next = version.tables_at(out);
    let mut best: Option<(u128, Arc<TableMeta>, Vec<Arc<TableMeta>>)> = None;
    for t in &tables {
        if reserved(reservations, t.number) {
            continue;
        }
        let over = overlapping(&next, t.smallest_user_key(), t.largest_user_key());
        if over.iter().any(|o| reserved(reservations, o.number)) {
            continue;
        }
        let over_bytes: u64 = over.iter().map(|o| o.size).sum();
        // Bytes rewritten per byte moved, scaled to stay integral.
        let cost = (u128::from(over_bytes) << 16) / u128::from(t.size.max(1));
        if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
            best = Some((cost, t.clone(), over));
        }
    }
    let (_, t, over) = best?;
    let last = version.num_levels() - 1;
    let trivial_move = over.is_empty() && !(out == last && t.tombstones > 0);
    Some(Picked {
        inputs: alloc::vec![(level, alloc::vec![t]), (out, over)],
        output_level: out,
        output_run: 0,
        trivial_move,
        reason: String::new(),
        version: Arc::new(version.clone()),
    })
}

/// A manual compaction of the tables of `level` overlapping `[start, end]` towards the last
/// level: they are merged into the next level below that holds tables overlapping them, or
/// into the last level if none does (levels in between hold none of their keys, so skipping
/// them keeps newer data above older). At the last level, tables whose tombstones no
/// snapshot needs any more are rewritten one at a time to drop them. `None` if there is
/// nothing to do at that level, or if running jobs hold what it needs (try again after they
/// finish).
pub fn pick_manual(
    version: &Version,
    _opts: &Options,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    level: usize,
    snapshots: &[u64],
    reservations: &[Reservation],
) -> Option<Picked> {
    let last = version.num_levels() - 1;
    if level > last {
        return None;
    }
    if level == last {
        return pick_bottom_cleanup(version, start, end, snapshots, reservations);
    }
    let mut inputs: Vec<Arc<TableMeta>> = version
        .tables_at(level)
        .into_iter()
        .filter(|t| t.overlaps(start, end))
        .collect();
    if inputs.is_empty() {
        return None;
    }
    // Level 0 runs must go down whole (a run's tables are only ordered within it).
    if level == 0 {
        inputs = version.tables_at(0);
    }
    if inputs.iter().any(|t| reserved(reservations, t.number)) {
        return None;
    }
    let (lo, hi) = user_range(&inputs)?;
    let mut out = last;
    for l in level + 1..=last {
        if output_busy(reservations, l) {
            return None;
        }
        if version
            .tables_at(l)
            .iter()
            .any(|t| t.overlaps(Some(&lo), Some(&hi)))
        {
            out = l;
            break;
        }
    }
    let next = overlapping(&version.tables_at(out), &lo, &hi);
    if next.iter().any(|t| reserved(reservations, t.number)) {
        return None;
    }
    Some(Picked {
        inputs: alloc::vec![(level, inputs), (out, next)],
        output_level: out,
        output_run: 0,
        trivial_move: false,
        reason: format!("manual compaction of L{level}"),
        version: Arc::new(version.clone()),
    })
}

/// The last step of a manual compaction: one table of the last level in `[start, end]`
/// whose tombstones can all be dropped now (every entry is older than the oldest snapshot),
/// rewritten in place. The rewrite leaves no tombstones, so repeating this ends.
fn pick_bottom_cleanup(
    version: &Version,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    snapshots: &[u64],
    reservations: &[Reservation],
) -> Option<Picked> {
    let last = version.num_levels() - 1;
    if output_busy(reservations, last) {
        return None;
    }
    let oldest_snapshot = snapshots.iter().copied().min().unwrap_or(u64::MAX);
    let t = version.levels.get(last - 1)?.iter().find(|t| {
        t.overlaps(start, end)
            && t.tombstones > 0
            && t.max_seq <= oldest_snapshot
            && !reserved(reservations, t.number)
    })?;
    Some(Picked {
        inputs: alloc::vec![(last, alloc::vec![t.clone()])],
        output_level: last,
        output_run: 0,
        trivial_move: false,
        reason: format!("manual cleanup of L{last}"),
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

    /// What was picked.
    pub fn picked(&self) -> &Picked {
        &self.picked
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
                            run: p.output_run,
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
        let mut oldest_input_run = u64::MAX;
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
                        oldest_input_run = oldest_input_run.min(run.id);
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
        // Older sources that are not inputs: for an L0 merge the older runs and every level,
        // otherwise the levels below the output.
        let below_may_hold = move |user_key: &[u8]| {
            let first_level = if out_level == 0 {
                if version
                    .l0
                    .iter()
                    .any(|r| r.id < oldest_input_run && r.find(user_key).is_some())
                {
                    return true;
                }
                1
            } else {
                out_level + 1
            };
            version
                .levels
                .iter()
                .skip(first_level - 1)
                .any(|tables| crate::version::find_table(tables, user_key).is_some())
        };
        let grandparents = if out_level == 0 {
            Vec::new()
        } else {
            p.version.tables_at(out_level + 1)
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
                grandparents: &grandparents,
                max_grandparent_overlap: self
                    .opts
                    .target_table_size
                    .saturating_mul(self.opts.max_grandparent_overlap_factor),
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
                run: p.output_run,
                meta,
            });
        }
        Ok(CompactionOutput { edit, level_io })
    }
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
