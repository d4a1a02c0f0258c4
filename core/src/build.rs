//! Writing sorted entries out as tables: the part of flush and compaction that turns an
//! internal iterator into one or more SSTables, dropping what the [`VersionFilter`] says to.

use crate::db::table_file_name;
use crate::error::Result;
use crate::gc::{Decision, VersionFilter};
use crate::iter::InternalIterator;
use crate::key;
use crate::options::Options;
use crate::table::{TableBuilder, TableOptions};
use crate::version::TableMeta;
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
}

/// Writes every entry of `iter` (positioned by this function) that `filter` keeps into new
/// tables, each synced; the directory is synced once at the end. Returns the tables written
/// (none if nothing was kept).
pub fn build_tables<V: Vfs>(
    vfs: &V,
    opts: &Options,
    iter: &mut dyn InternalIterator,
    filter: &mut VersionFilter,
    spec: BuildSpec<'_>,
) -> Result<Vec<TableMeta>> {
    let topts = TableOptions::from(opts);
    let mut out = Vec::new();
    let mut builder: Option<(u64, TableBuilder<V::File>)> = None;
    let mut last_user_key: Vec<u8> = Vec::new();
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
        // Cut only between user keys, so that no user key spans two tables of a level.
        let cut = match &builder {
            Some((_, b)) => {
                b.estimated_size() >= spec.target_size && user_key != last_user_key.as_slice()
            }
            None => false,
        };
        if cut {
            if let Some((n, b)) = builder.take() {
                out.push(finish(n, b)?);
            }
        }
        if builder.is_none() {
            let n = (spec.allocate)();
            let file = vfs.create(&table_file_name(n))?;
            builder = Some((n, TableBuilder::new(file, topts.clone())));
        }
        if let Some((_, b)) = builder.as_mut() {
            b.add(ikey, iter.value())?;
        }
        last_user_key.clear();
        last_user_key.extend_from_slice(user_key);
        iter.next()?;
    }
    if let Some((n, b)) = builder.take() {
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
