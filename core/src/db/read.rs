//! Reads: snapshots, point lookups through the memtables and the levels, and iterators and
//! scan pages over the merged sources.

use super::{Db, Entry, Snapshot};
use crate::db_iter::{DbIter, Direction};
use crate::error::Result;
use crate::iter::{InternalIterator, MergingIterator};
use crate::key::Kind;
use crate::level_iter::LevelIter;
use crate::memtable::MemtableIter;
use crate::range::{narrow_to_prefix, prefix_successor};
use crate::range_del::RangeDelAggregator;
use crate::txn::{self, KeyspaceId, PendingWrites, Transaction};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;
use core::ops::Bound;

impl<V: Vfs + Clone> Db<V> {
    /// The sequence number reads see now.
    pub fn visible_sequence(&self) -> u64 {
        self.visible_seq
    }

    /// Pins the current state for reads.
    pub fn snapshot(&mut self) -> Snapshot {
        *self.snapshots.entry(self.visible_seq).or_insert(0) += 1;
        Snapshot::pinned(self.visible_seq)
    }

    /// Pins `seq` again (an iterator over an existing snapshot takes its own hold). `seq`
    /// must be a sequence number that is already pinned or visible.
    pub fn snapshot_at(&mut self, seq: u64) -> Snapshot {
        let seq = seq.min(self.visible_seq);
        *self.snapshots.entry(seq).or_insert(0) += 1;
        Snapshot::pinned(seq)
    }

    /// Releases a snapshot taken with [`Db::snapshot`].
    pub fn release_snapshot(&mut self, snap: Snapshot) {
        if let Some(n) = self.snapshots.get_mut(&snap.sequence()) {
            *n -= 1;
            if *n == 0 {
                self.snapshots.remove(&snap.sequence());
            }
        }
    }

    /// Begins an optimistic transaction reading at the current state (see [`crate::txn`]):
    /// pins a snapshot and registers its read sequence with the conflict checker. Costs what
    /// a snapshot costs until it writes or reads for update. End it with
    /// [`Db::commit_transaction`] or [`Db::end_transaction`].
    pub fn begin_transaction(&mut self) -> Result<Transaction> {
        self.check_open()?;
        let snap = self.snapshot();
        self.oracle.begin(snap.sequence(), self.last_seq);
        Ok(Transaction::new(
            snap,
            self.opts.max_key_size,
            self.opts.max_value_size,
        ))
    }

    /// Ends `tx` without writing anything (a rollback, or the bookkeeping after a commit
    /// made elsewhere, with `committed` telling which): releases its snapshot and its
    /// registration. Idempotent.
    pub fn end_transaction(&mut self, tx: &mut Transaction, committed: bool) {
        if let Some(snap) = tx.finish(committed) {
            self.oracle.end(snap.sequence(), self.visible_seq);
            self.release_snapshot(snap);
        }
    }

    /// Live transactions, and the committed batches (and their bytes) kept for their
    /// conflict checks.
    pub fn transaction_tracking(&self) -> (usize, usize, usize) {
        let (keys, bytes) = self.oracle.tracked();
        (self.oracle.live(), keys, bytes)
    }

    /// The value of `key` in keyspace `ks` as `tx` sees it: its own buffered write, else its
    /// snapshot. A snapshot read: it joins no conflict set.
    pub fn transaction_get(
        &self,
        tx: &Transaction,
        ks: KeyspaceId,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        tx.check_active()?;
        match tx.pending(ks, key) {
            Some(v) => {
                self.check_open()?;
                Ok(v.map(Vec::from))
            }
            None => self.get_at(key, tx.read_sequence()),
        }
    }

    /// [`Db::transaction_get`], and adds `key` to the transaction's conflict set: the commit
    /// fails with `Conflict` if a write committed after the transaction began wrote it.
    pub fn transaction_get_for_update(
        &self,
        tx: &mut Transaction,
        ks: KeyspaceId,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        tx.track_key(ks, key)?;
        self.transaction_get(tx, ks, key)
    }

    /// [`Db::scan_page`] at `seq` merged with the buffered writes `pending` of the same
    /// keyspace (a transaction's view of a range). Tracking the range for conflicts is the
    /// caller's (`Transaction::track_range`, once per scan).
    #[allow(clippy::too_many_arguments)]
    pub fn scan_page_merged(
        &self,
        pending: &PendingWrites,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
        seq: u64,
        direction: Direction,
        after: Option<&[u8]>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Entry>, bool)> {
        let (lo, hi) = narrow_to_prefix(range, prefix);
        let narrowed = (borrow(&lo), borrow(&hi));
        let mut after = after.map(Vec::from);
        loop {
            let (page, exhausted) = self.scan_page(
                range,
                prefix,
                seq,
                direction,
                after.as_deref(),
                limit,
                max_bytes,
            )?;
            let (merged, resume) = txn::merge_page(
                page,
                exhausted,
                pending,
                narrowed,
                direction,
                after.as_deref(),
            );
            // A page whose every key a buffered delete hid: read on.
            if !merged.is_empty() || resume.is_none() {
                return Ok((merged, resume.is_none()));
            }
            after = resume;
        }
    }

    /// Sequence numbers of the live snapshots, ascending.
    pub fn snapshot_sequences(&self) -> Vec<u64> {
        self.snapshots.keys().copied().collect()
    }

    /// The value of `key` now.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at(key, self.visible_seq)
    }

    /// The value of `key` at a snapshot.
    pub fn get_snapshot(&self, key: &[u8], snap: &Snapshot) -> Result<Option<Vec<u8>>> {
        self.get_at(key, snap.sequence())
    }

    /// The value of `key` as of sequence number `seq`: memtable, frozen memtables, then the
    /// tables newest first, skipping tables by key range and bloom filter. Range tombstones
    /// of every source down to (and including) the one holding the newest version are
    /// applied: a version older than a visible covering tombstone is deleted.
    pub fn get_at(&self, key: &[u8], seq: u64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        self.check_key(key)?;
        // Newest visible range tombstone covering `key` in the sources seen so far.
        let mut covering = 0u64;
        let decide = |kind: Kind, entry_seq: u64, v: &[u8], covering: u64| {
            if kind == Kind::Put && entry_seq >= covering {
                Some(Vec::from(v))
            } else {
                None
            }
        };
        let mems = core::iter::once(&self.mem).chain(self.imm.iter().rev().map(|f| &*f.mem));
        for m in mems {
            if m.has_range_dels() {
                covering = covering.max(m.range_dels().max_covering(key, seq));
            }
            if let Some((kind, s, v)) = m.get_entry(key, seq) {
                return Ok(decide(kind, s, v, covering));
            }
        }
        let version = &self.version;
        for run in &version.l0 {
            if let Some(i) = run.find(key) {
                if let Some((kind, s, v)) =
                    self.table_get(&run.tables[i], key, seq, &mut covering)?
                {
                    return Ok((kind == Kind::Put && s >= covering).then_some(v));
                }
            }
        }
        for level in &version.levels {
            if let Some(i) = crate::version::find_table(level, key) {
                if let Some((kind, s, v)) = self.table_get(&level[i], key, seq, &mut covering)? {
                    return Ok((kind == Kind::Put && s >= covering).then_some(v));
                }
            }
        }
        Ok(None)
    }

    /// The newest version of `key` at `seq` in one table, as (kind, sequence, value), after
    /// raising `covering` to the table's newest visible range tombstone over `key`.
    fn table_get(
        &self,
        meta: &crate::version::TableMeta,
        key: &[u8],
        seq: u64,
        covering: &mut u64,
    ) -> Result<Option<(Kind, u64, Vec<u8>)>> {
        if meta.min_seq > seq {
            return Ok(None);
        }
        let table = self.table_cache.get(meta.number, meta.size)?;
        let rd = table.range_dels();
        if !rd.is_empty() {
            *covering = (*covering).max(rd.max_covering(key, seq));
        }
        Ok(table.get(key, seq)?.map(|(kind, s, v)| {
            let kind = if kind == Kind::Put as u8 {
                Kind::Put
            } else {
                Kind::Delete
            };
            (kind, s, v)
        }))
    }

    /// The internal iterators over every source, newest first: memtable, frozen memtables,
    /// level-0 runs, levels.
    fn sources(
        &self,
        prefix: Option<&[u8]>,
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
        rd: &mut RangeDelAggregator,
    ) -> Result<Vec<Box<dyn InternalIterator + '_>>> {
        let mut v: Vec<Box<dyn InternalIterator + '_>> = Vec::new();
        v.push(Box::new(MemtableIter::new(&self.mem)));
        if self.mem.has_range_dels() {
            rd.add(self.mem.range_dels());
        }
        for f in self.imm.iter().rev() {
            v.push(Box::new(MemtableIter::new(f.mem.clone())));
            if f.mem.has_range_dels() {
                rd.add(f.mem.range_dels());
            }
        }
        let table_prefix = prefix.and_then(|p| {
            self.opts
                .prefix_len
                .filter(|&n| p.len() >= n)
                .map(|n| Vec::from(&p[..n]))
        });
        let successor = prefix.and_then(prefix_successor);
        // A table can hold keys with the prefix iff its range meets [prefix, successor).
        let in_bounds = |t: &crate::version::TableMeta| {
            (match lo {
                Bound::Included(k) | Bound::Excluded(k) => t.largest_user_key() >= k.as_slice(),
                Bound::Unbounded => true,
            }) && (match hi {
                Bound::Included(k) | Bound::Excluded(k) => t.smallest_user_key() <= k.as_slice(),
                Bound::Unbounded => true,
            })
        };
        let overlaps = |t: &crate::version::TableMeta| {
            in_bounds(t)
                && match prefix {
                    Some(p) => {
                        t.largest_user_key() >= p
                            && successor
                                .as_deref()
                                .is_none_or(|s| t.smallest_user_key() < s)
                    }
                    None => true,
                }
        };
        // Range tombstones of the tables the scan may touch (a table's key range covers its
        // tombstones). Tables are opened through the table cache, as the scan would.
        let mut add_tables = |tables: &[Arc<crate::version::TableMeta>]| -> Result<()> {
            for t in tables {
                let table = self.table_cache.get(t.number, t.size)?;
                if !table.range_dels().is_empty() {
                    rd.add(Arc::clone(table.range_dels()));
                }
            }
            Ok(())
        };
        // Level-0 runs (newest first), then the levels: one sorted run each.
        let runs = self.version.l0.iter().map(|r| &r.tables[..]);
        for run in runs.chain(self.version.levels.iter().map(|l| &l[..])) {
            let tables: Vec<_> = run.iter().filter(|t| overlaps(t)).cloned().collect();
            add_tables(&tables)?;
            if !tables.is_empty() {
                v.push(Box::new(LevelIter::new(
                    self.table_cache.clone(),
                    tables,
                    true,
                    table_prefix.clone(),
                )));
            }
        }
        Ok(v)
    }

    /// Iterates the user keys in `range` at sequence `seq` in `direction`, optionally only
    /// keys starting with `prefix`.
    pub fn iter_at(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
        seq: u64,
        direction: Direction,
    ) -> Result<DbIter<'_>> {
        self.check_open()?;
        let (lo, hi) = narrow_to_prefix(range, prefix);
        let mut rd = RangeDelAggregator::new(seq);
        let merged = MergingIterator::new(self.sources(prefix, &lo, &hi, &mut rd)?);
        DbIter::new(merged, lo, hi, seq, direction, rd)
    }

    /// Iterates `range` now, forward.
    pub fn range(&self, range: (Bound<&[u8]>, Bound<&[u8]>)) -> Result<DbIter<'_>> {
        self.iter_at(range, None, self.visible_seq, Direction::Forward)
    }

    /// Reads up to `limit` entries (stopping early once about `max_bytes` are gathered) of
    /// `range` at `seq`, continuing strictly after `after` (forward) or before it (reverse).
    /// Returns the page and whether the range is exhausted. The native and browser iterators
    /// page through large scans with this, so that no lock is held between pages; a snapshot
    /// keeps the pages consistent.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_page(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
        seq: u64,
        direction: Direction,
        after: Option<&[u8]>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Entry>, bool)> {
        let range = match (after, direction) {
            (Some(a), Direction::Forward) => (Bound::Excluded(a), range.1),
            (Some(a), Direction::Reverse) => (range.0, Bound::Excluded(a)),
            (None, _) => range,
        };
        let mut it = self.iter_at(range, prefix, seq, direction)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < limit.max(1) && bytes < max_bytes {
            match it.next() {
                Some(Ok((k, v))) => {
                    bytes += k.len() + v.len() + 32;
                    out.push((k, v));
                }
                Some(Err(e)) => return Err(e),
                None => return Ok((out, true)),
            }
        }
        Ok((out, false))
    }
}

fn borrow(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}
