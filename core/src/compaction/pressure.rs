//! Backpressure: compaction debt turned into a delay per write group (see the
//! [module docs](super)).

use super::targets::{l0_output_level, level_targets};
use crate::options::Options;
use crate::version::Version;

/// How hard the writers should be held back so background work can keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePressure {
    /// Write at full speed.
    None,
    /// Delay each write group by this many microseconds (smooth backpressure).
    Slowdown(u64),
    /// Wait for background work before writing (memory guard).
    Stop,
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
