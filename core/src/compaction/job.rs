//! Running a picked compaction: merging its inputs into tables of the output level.

use super::Picked;
use crate::build::{build_tables, BuildSpec};
use crate::error::Result;
use crate::filename::FileNumbers;
use crate::gc::VersionFilter;
use crate::iter::{InternalIterator, MergingIterator};
use crate::level_iter::LevelIter;
use crate::options::Options;
use crate::table_cache::TableCache;
use crate::version::{AddedTable, VersionEdit};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;

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
        let mut tombstones = Vec::new();
        for (_, tables) in &p.inputs {
            for t in tables {
                let table = self.cache.get(t.number, t.size)?;
                tombstones.extend(table.range_dels().tombstones());
            }
        }
        let range_dels = crate::range_del::Fragments::new(tombstones);
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
        let version = p.version.clone();
        let below_may_overlap = move |start: &[u8], end: &[u8]| {
            let hi = Some(crate::range_del::inclusive_end(end));
            let first_level = if out_level == 0 {
                if version.l0.iter().any(|r| {
                    r.id < oldest_input_run && r.tables.iter().any(|t| t.overlaps(Some(start), hi))
                }) {
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
                .any(|tables| tables.iter().any(|t| t.overlaps(Some(start), hi)))
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
                range_dels: &range_dels,
                below_may_overlap: &below_may_overlap,
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
