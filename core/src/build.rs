//! Writing sorted entries out as tables: the part of flush and compaction that turns an
//! internal iterator into one or more SSTables, dropping what the [`VersionFilter`] says to.

use crate::error::Result;
use crate::filename;
use crate::gc::{Decision, VersionFilter};
use crate::iter::InternalIterator;
use crate::key;
use crate::options::Options;
use crate::range_del::{Fragments, RangeTombstone};
use crate::table::{TableBuilder, TableOptions};
use crate::version::TableMeta;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;

/// How to cut the output into tables.
pub struct BuildSpec<'a> {
    /// Start a new table once the current one reaches this size (only between user keys).
    pub target_size: u64,
    /// Allocates the number of each new table.
    pub allocate: &'a mut dyn FnMut() -> u64,
    /// For tombstones that could be dropped: may a level below the output hold this key?
    pub below_may_hold: &'a dyn Fn(&[u8]) -> bool,
    /// The tables of the level below the output (compaction only; empty for flushes).
    pub grandparents: &'a [Arc<TableMeta>],
    /// Also cut a table once it overlaps more than this many bytes of `grandparents`, so
    /// that a future compaction of it rewrites little of the level below (0 = no limit).
    pub max_grandparent_overlap: u64,
    /// The range tombstones of the inputs. Entries they hide from every reader are dropped;
    /// those still needed are written to the output tables, clipped to each table's range.
    pub range_dels: &'a Fragments,
    /// For range tombstones that could be dropped: may a level below the output hold a key
    /// in `[start, end)`?
    pub below_may_overlap: &'a dyn Fn(&[u8], &[u8]) -> bool,
}

/// The tombstones of `kept` (ordered by start) clipped to `[lo, hi)` (`None` = unbounded).
fn clip(kept: &[RangeTombstone], lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<RangeTombstone> {
    let mut out = Vec::new();
    for t in kept {
        if hi.is_some_and(|h| t.start.as_slice() >= h) {
            break;
        }
        let start = match lo {
            Some(l) if t.start.as_slice() < l => l,
            _ => t.start.as_slice(),
        };
        let end = match hi {
            Some(h) if t.end.as_slice() > h => h,
            _ => t.end.as_slice(),
        };
        if start < end {
            out.push(RangeTombstone {
                start: Vec::from(start),
                end: Vec::from(end),
                seq: t.seq,
            });
        }
    }
    out
}

/// Writes every entry of `iter` (positioned by this function) that `filter` keeps into new
/// tables, each synced; the directory is synced once at the end. Returns the tables written
/// (none if nothing was kept). Tables are cut only between user keys, so no user key spans
/// two tables of a level.
pub fn build_tables<V: Vfs>(
    vfs: &V,
    opts: &Options,
    iter: &mut dyn InternalIterator,
    filter: &mut VersionFilter,
    spec: BuildSpec<'_>,
) -> Result<Vec<TableMeta>> {
    let topts = TableOptions::from(opts);
    let grandparents = spec.grandparents;
    let mut out = Vec::new();
    let mut builder: Option<(u64, TableBuilder<V::File>)> = None;
    let mut last_user_key: Vec<u8> = Vec::new();
    let mut has_last = false;
    let mut gp_index = 0usize;
    let mut gp_overlap = 0u64;
    let mut gp_seen = false;
    let mut kept = filter.keep_range_dels(spec.range_dels, spec.below_may_overlap);
    // By start (and newest first among equal starts: the one tombstone sort of the binary).
    crate::range_del::sort_tombstones(&mut kept);
    // The range tombstones of the next table start here (a cut's successor key).
    let mut table_lo: Option<Vec<u8>> = None;
    let mut frag_hint = 0usize;
    let frags = spec.range_dels.fragments();
    iter.seek_to_first()?;
    while iter.valid() {
        let ikey = iter.key();
        match filter.decide(ikey, spec.below_may_hold) {
            Decision::Keep => {}
            Decision::DropShadowed | Decision::DropTombstone => {
                iter.next()?;
                continue;
            }
        }
        let user_key = key::user_key(ikey);
        if !frags.is_empty() {
            // Entries arrive in key order: move the fragment hint forward.
            while frag_hint < frags.len() && frags[frag_hint].end.as_slice() <= user_key {
                frag_hint += 1;
            }
            if frag_hint < frags.len()
                && frags[frag_hint].start.as_slice() <= user_key
                && filter.covered(&frags[frag_hint], key::sequence(ikey))
            {
                filter.dropped_versions += 1;
                iter.next()?;
                continue;
            }
        }
        if !has_last || user_key != last_user_key.as_slice() {
            // Grandparent tables passed entirely since the table began count as overlap.
            while gp_index < grandparents.len()
                && user_key > grandparents[gp_index].largest_user_key()
            {
                if gp_seen {
                    gp_overlap = gp_overlap.saturating_add(grandparents[gp_index].size);
                }
                gp_index += 1;
            }
            gp_seen = true;
            let cut = builder.as_ref().is_some_and(|(_, b)| {
                b.estimated_size() >= spec.target_size
                    || (spec.max_grandparent_overlap > 0
                        && gp_overlap > spec.max_grandparent_overlap)
            });
            if cut {
                if let Some((n, mut b)) = builder.take() {
                    // The table ends just after its last key; tombstones spanning the cut
                    // continue in the next table.
                    let hi = crate::range_del::successor(&last_user_key);
                    for t in clip(&kept, table_lo.as_deref(), Some(&hi)) {
                        b.add_range_tombstone(t)?;
                    }
                    table_lo = Some(hi);
                    out.push(finish(n, b)?);
                }
                gp_overlap = 0;
            }
        }
        if builder.is_none() {
            let n = (spec.allocate)();
            let file = vfs.create(&filename::table(n))?;
            builder = Some((n, TableBuilder::new(file, topts.clone())));
        }
        if let Some((_, b)) = builder.as_mut() {
            b.add(ikey, iter.value())?;
        }
        last_user_key.clear();
        last_user_key.extend_from_slice(user_key);
        has_last = true;
        iter.next()?;
    }
    let rest = clip(&kept, table_lo.as_deref(), None);
    if builder.is_none() && !rest.is_empty() {
        // Only range tombstones are left to write.
        let n = (spec.allocate)();
        let file = vfs.create(&filename::table(n))?;
        builder = Some((n, TableBuilder::new(file, topts.clone())));
    }
    if let Some((n, mut b)) = builder.take() {
        for t in rest {
            b.add_range_tombstone(t)?;
        }
        out.push(finish(n, b)?);
    }
    if !out.is_empty() {
        vfs.sync_dir()?;
    }
    Ok(out)
}

fn finish<F: cairn_vfs::File>(number: u64, b: TableBuilder<F>) -> Result<TableMeta> {
    let p = b.finish()?;
    Ok(TableMeta {
        number,
        size: p.file_size,
        smallest: p.smallest_key.clone(),
        largest: p.largest_key.clone(),
        min_seq: p.min_seq,
        max_seq: p.max_seq,
        entries: p.num_entries,
        tombstones: p.num_tombstones,
        raw_bytes: (p.raw_key_bytes + p.raw_value_bytes)
            .saturating_sub(p.num_entries * crate::key::TRAILER_LEN as u64),
    })
}
