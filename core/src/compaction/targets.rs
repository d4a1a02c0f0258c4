//! Level size targets under dynamic level sizing (see the [module docs](super)).

use crate::options::Options;
use crate::version::Version;
use alloc::vec::Vec;

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
