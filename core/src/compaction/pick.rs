//! Choosing compactions: scores, L0 merges, leveled picks, manual compaction.

use super::targets::{l0_output_level, level_targets, LevelTargets};
use super::{Picked, Reservation};
use crate::options::Options;
use crate::version::{TableMeta, Version};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

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
    // Highest score first, ties in level order (what a stable sort of this level-ordered list
    // gives; an unstable sort with the tie-break keeps a stable sort out of the binary).
    scores.sort_unstable_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(core::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
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
