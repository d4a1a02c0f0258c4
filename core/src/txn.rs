//! Optimistic transactions with serializable snapshot isolation (the Badger/AgateDB model).
//!
//! A [`Transaction`] reads at the snapshot it began at ([`crate::Db::begin_transaction`]) plus
//! its own buffered writes, and records what it read into its [`ConflictSet`]: the keys read
//! with [`Transaction::get_for_update`] and every range or prefix it scanned (so a key
//! inserted into a scanned range — a phantom — is caught too). Plain [`Transaction::get`] is a
//! snapshot read that joins no conflict set.
//!
//! At commit ([`crate::Db::commit_begin_checked`], under the engine's write lock, in the same
//! step that hands out sequence numbers) the [`Oracle`] checks the conflict set against every
//! write committed after the transaction's read sequence — by other transactions and by plain
//! writes alike. Any overlap rejects the commit with [`Error::Conflict`] and nothing is
//! written. Otherwise the buffered writes go out as one [`WriteBatch`] through the ordinary
//! commit path (group commit natively), so a commit is exactly as atomic and durable as a
//! batch.
//!
//! ## Conflict tracking memory
//! The oracle keeps, per key written, the sequence number of its last write, and only while
//! a live transaction began before that write (or the write is not yet visible): when the
//! oldest transaction ends, the history it needed is dropped (amortized: the map is swept
//! when it doubled since the last sweep, and emptied whenever no transaction is live). The
//! history is capped at [`MAX_CONFLICT_BYTES`]; past it the oracle forgets everything and
//! raises its *floor*, and a transaction that began below the floor and read something fails
//! with `Conflict` (it cannot be checked, so it is retried). Nothing is tracked until the
//! first transaction of an open begins.
//!
//! Keys are tracked as (keyspace id, key); today every key is in [`DEFAULT_KEYSPACE`].

use crate::batch::WriteBatch;
use crate::db::{Entry, Snapshot};
use crate::db_iter::Direction;
use crate::error::{Error, Result};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Bound;

/// A keyspace's id. Only the default keyspace exists today.
pub type KeyspaceId = u32;
/// The keyspace of every key today.
pub const DEFAULT_KEYSPACE: KeyspaceId = 0;
/// The most bytes of committed-write history the oracle keeps for conflict checks.
pub const MAX_CONFLICT_BYTES: usize = 32 << 20;
/// Bookkeeping bytes counted per tracked key besides the key itself.
const ENTRY_OVERHEAD: usize = 48;

/// A (keyspace, key) pair.
pub type TxKey = (KeyspaceId, Vec<u8>);

/// The buffered writes of one keyspace: key → `Some(value)` for a put, `None` for a delete.
pub type PendingWrites = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What a transaction read, checked at commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConflictSet {
    read_seq: u64,
    keys: BTreeSet<TxKey>,
    ranges: Vec<TrackedRange>,
}

/// A range a transaction scanned: keyspace, lower and upper bound.
type TrackedRange = (KeyspaceId, Bound<Vec<u8>>, Bound<Vec<u8>>);

impl ConflictSet {
    /// The sequence number the transaction read at.
    pub fn read_sequence(&self) -> u64 {
        self.read_seq
    }

    /// True when nothing was read into the set (such a transaction never conflicts).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }
}

/// The commit-time conflict checker: the recent committed write history and the read
/// sequence numbers of the live transactions.
#[derive(Debug, Default)]
pub(crate) struct Oracle {
    /// Read sequence → live transactions that began there.
    active: BTreeMap<u64, usize>,
    /// Last committed write sequence per key, while some transaction may need it.
    writes: BTreeMap<TxKey, u64>,
    bytes: usize,
    /// Commits at or below this sequence may be missing from `writes`.
    floor: u64,
    /// Sweep `writes` once it holds this many keys.
    sweep_at: usize,
    /// Set by the first transaction; until then commits record nothing.
    enabled: bool,
}

impl Oracle {
    /// Registers a transaction reading at `read_seq`; `last_seq` is the last sequence handed
    /// out (commits above `read_seq` may still be in flight).
    pub(crate) fn begin(&mut self, read_seq: u64, last_seq: u64) {
        if !self.enabled {
            // Commits handed out before now were not recorded.
            self.enabled = true;
            self.floor = last_seq;
        }
        *self.active.entry(read_seq).or_insert(0) += 1;
    }

    /// Unregisters a transaction; `visible_seq` is the engine's visible sequence.
    pub(crate) fn end(&mut self, read_seq: u64, visible_seq: u64) {
        if let Some(n) = self.active.get_mut(&read_seq) {
            *n -= 1;
            if *n == 0 {
                self.active.remove(&read_seq);
                let idle = self.active.is_empty();
                if idle || self.writes.len() >= self.sweep_at {
                    self.sweep(visible_seq, idle);
                }
            }
        }
    }

    /// Number of live transactions.
    pub(crate) fn live(&self) -> usize {
        self.active.values().sum()
    }

    /// Tracked keys and their approximate bytes.
    pub(crate) fn tracked(&self) -> (usize, usize) {
        (self.writes.len(), self.bytes)
    }

    /// True if a write committed after `set.read_seq` touched what `set` read.
    pub(crate) fn conflicts(&self, set: &ConflictSet) -> bool {
        if set.is_empty() {
            return false;
        }
        if set.read_seq < self.floor {
            return true;
        }
        let r = set.read_seq;
        if set
            .keys
            .iter()
            .any(|k| self.writes.get(k).is_some_and(|&s| s > r))
        {
            return true;
        }
        set.ranges.iter().any(|(ks, lo, hi)| {
            if range_is_empty(lo, hi) {
                return false;
            }
            let lo = match lo {
                Bound::Included(k) => Bound::Included((*ks, k.clone())),
                Bound::Excluded(k) => Bound::Excluded((*ks, k.clone())),
                Bound::Unbounded => Bound::Included((*ks, Vec::new())),
            };
            let hi = match hi {
                Bound::Included(k) => Bound::Included((*ks, k.clone())),
                Bound::Excluded(k) => Bound::Excluded((*ks, k.clone())),
                Bound::Unbounded => match ks.checked_add(1) {
                    Some(next) => Bound::Excluded((next, Vec::new())),
                    None => Bound::Unbounded,
                },
            };
            self.writes.range((lo, hi)).any(|(_, &s)| s > r)
        })
    }

    /// True once a transaction began (commits must record their keys).
    pub(crate) fn recording(&self) -> bool {
        self.enabled
    }

    /// Records a committed write of `key` at `seq`.
    pub(crate) fn record(&mut self, ks: KeyspaceId, key: &[u8], seq: u64) {
        // `get_mut` first: a key written again costs no allocation.
        let probe = (ks, Vec::from(key));
        match self.writes.get_mut(&probe) {
            Some(s) => *s = seq,
            None => {
                self.bytes += key.len() + ENTRY_OVERHEAD;
                self.writes.insert(probe, seq);
            }
        }
    }

    /// After a commit: sweeps the history when it grew (or no transaction is live), and
    /// forgets it past the byte cap.
    pub(crate) fn after_commit(&mut self, last_seq: u64, visible_seq: u64) {
        if self.writes.is_empty() {
            return;
        }
        let idle = self.active.is_empty();
        if idle || self.writes.len() >= self.sweep_at {
            self.sweep(visible_seq, idle);
        }
        if self.bytes > MAX_CONFLICT_BYTES {
            self.writes.clear();
            self.bytes = 0;
            self.floor = self.floor.max(last_seq);
        }
    }

    /// Drops every write no live or future transaction can conflict with: those at or below
    /// both the oldest live read sequence and the visible sequence.
    fn sweep(&mut self, visible_seq: u64, idle: bool) {
        let horizon = match self.active.keys().next() {
            Some(&oldest) => oldest.min(visible_seq),
            None => visible_seq,
        };
        let mut freed = 0;
        self.writes.retain(|(_, k), s| {
            let keep = *s > horizon;
            if !keep {
                freed += k.len() + ENTRY_OVERHEAD;
            }
            keep
        });
        self.bytes -= freed;
        // Sweep again once the map doubled; when idle, after every commit (it holds only the
        // commits still in flight then).
        self.sweep_at = if idle {
            0
        } else {
            (self.writes.len() * 2).max(1024)
        };
    }
}

/// The state of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Accepting reads and writes.
    Active,
    /// Committed.
    Committed,
    /// Rolled back, or failed to commit (a conflict or an I/O error).
    Finished,
}

/// An optimistic transaction: a snapshot, the writes buffered so far, and what it read. Made
/// by [`crate::Db::begin_transaction`]; finished by [`crate::Db::commit_transaction`] or
/// [`crate::Db::end_transaction`] (a transaction dropped without either keeps its snapshot
/// pinned, so the native and browser wrappers always end theirs).
#[derive(Debug)]
pub struct Transaction {
    pub(crate) snap: Option<Snapshot>,
    pub(crate) conflicts: ConflictSet,
    writes: BTreeMap<KeyspaceId, PendingWrites>,
    write_count: usize,
    max_key: usize,
    max_value: usize,
    pub(crate) state: TxState,
}

impl Transaction {
    pub(crate) fn new(snap: Snapshot, max_key: usize, max_value: usize) -> Transaction {
        Transaction {
            conflicts: ConflictSet {
                read_seq: snap.sequence(),
                ..ConflictSet::default()
            },
            snap: Some(snap),
            writes: BTreeMap::new(),
            write_count: 0,
            max_key,
            max_value,
            state: TxState::Active,
        }
    }

    /// The sequence number the transaction reads at.
    pub fn read_sequence(&self) -> u64 {
        self.conflicts.read_seq
    }

    /// Where the transaction is in its life.
    pub fn state(&self) -> TxState {
        self.state
    }

    /// `Ok` while the transaction accepts reads and writes, else [`Error::TransactionFinished`].
    pub fn check_active(&self) -> Result<()> {
        match self.state {
            TxState::Active => Ok(()),
            _ => Err(Error::TransactionFinished),
        }
    }

    /// True when nothing was written (committing it checks nothing and writes nothing).
    pub fn is_read_only(&self) -> bool {
        self.write_count == 0
    }

    /// What the transaction read so far.
    pub fn conflict_set(&self) -> &ConflictSet {
        &self.conflicts
    }

    /// The buffered write of `key`, if any: `Some(Some(v))` a put, `Some(None)` a delete.
    pub fn pending(&self, ks: KeyspaceId, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes
            .get(&ks)
            .and_then(|m| m.get(key))
            .map(|v| v.as_deref())
    }

    /// The buffered writes of keyspace `ks`.
    pub fn pending_writes(&self, ks: KeyspaceId) -> Option<&PendingWrites> {
        self.writes.get(&ks)
    }

    /// Adds `key` to the conflict set (as `get_for_update` does).
    pub fn track_key(&mut self, ks: KeyspaceId, key: &[u8]) -> Result<()> {
        self.check_active()?;
        self.check_key(key)?;
        self.conflicts.keys.insert((ks, Vec::from(key)));
        Ok(())
    }

    /// Adds the range `[lo, hi]` (bounds as given), narrowed to `prefix` when one is given,
    /// to the conflict set (as every scan in a transaction does).
    pub fn track_range(
        &mut self,
        ks: KeyspaceId,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        prefix: Option<&[u8]>,
    ) -> Result<()> {
        self.check_active()?;
        let (lo, hi) = crate::db::narrow_to_prefix(range, prefix);
        self.conflicts.ranges.push((ks, lo, hi));
        Ok(())
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.max_key {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: self.max_key,
            });
        }
        Ok(())
    }

    /// Buffers `key` = `value`.
    pub fn put(&mut self, ks: KeyspaceId, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_active()?;
        self.check_key(key)?;
        if value.len() > self.max_value {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: self.max_value,
            });
        }
        self.buffer(ks, key, Some(Vec::from(value)));
        Ok(())
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, ks: KeyspaceId, key: &[u8]) -> Result<()> {
        self.check_active()?;
        self.check_key(key)?;
        self.buffer(ks, key, None);
        Ok(())
    }

    fn buffer(&mut self, ks: KeyspaceId, key: &[u8], v: Option<Vec<u8>>) {
        let m = self.writes.entry(ks).or_default();
        if let Some(slot) = m.get_mut(key) {
            *slot = v;
        } else {
            m.insert(Vec::from(key), v);
            self.write_count += 1;
        }
    }

    /// The buffered writes as one batch, in key order (the default keyspace only today).
    pub fn to_batch(&self) -> WriteBatch {
        let mut b = WriteBatch::new();
        for m in self.writes.values() {
            for (k, v) in m {
                match v {
                    Some(v) => b.put(k, v),
                    None => b.delete(k),
                }
            }
        }
        b
    }

    /// Takes the conflict set out, for a commit made through a queue (the native group
    /// commit); the transaction must be ended right after.
    pub fn take_conflict_set(&mut self) -> ConflictSet {
        ConflictSet {
            read_seq: self.conflicts.read_seq,
            keys: core::mem::take(&mut self.conflicts.keys),
            ranges: core::mem::take(&mut self.conflicts.ranges),
        }
    }

    /// Marks the transaction finished and hands back its snapshot for the engine to release.
    /// Use [`crate::Db::end_transaction`], which does both; this alone is for a transaction
    /// whose engine is already closed.
    pub fn finish(&mut self, committed: bool) -> Option<Snapshot> {
        if self.state == TxState::Active {
            self.state = if committed {
                TxState::Committed
            } else {
                TxState::Finished
            };
        }
        self.writes.clear();
        self.snap.take()
    }
}

fn range_is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}

/// Merges one page read from the database (`db_page`, in `direction` order, continuing after
/// `after`; `exhausted` when it reached the end of the range) with the buffered writes
/// `pending` of the same range: a buffered put replaces or adds its key, a buffered delete
/// hides it. Only buffered writes up to the page's last key are merged unless the page is the
/// last one, so that consecutive pages never skip or repeat a key. Returns the merged entries
/// and the key the next page continues after (`None` when the range is exhausted).
pub fn merge_page(
    db_page: Vec<Entry>,
    exhausted: bool,
    pending: &PendingWrites,
    range: (Bound<&[u8]>, Bound<&[u8]>),
    direction: Direction,
    after: Option<&[u8]>,
) -> (Vec<Entry>, Option<Vec<u8>>) {
    let resume = if exhausted {
        None
    } else {
        db_page.last().map(|(k, _)| k.clone())
    };
    // The keys of `pending` this page covers.
    let (mut lo, mut hi) = range;
    match direction {
        Direction::Forward => {
            if let Some(a) = after {
                lo = Bound::Excluded(a);
            }
            if let Some(r) = resume.as_deref() {
                hi = Bound::Included(r);
            }
        }
        Direction::Reverse => {
            if let Some(a) = after {
                hi = Bound::Excluded(a);
            }
            if let Some(r) = resume.as_deref() {
                lo = Bound::Included(r);
            }
        }
    }
    let empty = match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    };
    if empty || pending.is_empty() {
        return (db_page, resume);
    }
    let covered = pending.range::<[u8], _>((lo, hi));
    let mut p: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = match direction {
        Direction::Forward => covered.collect(),
        Direction::Reverse => covered.rev().collect(),
    };
    if p.is_empty() {
        return (db_page, resume);
    }
    let before = |a: &[u8], b: &[u8]| match direction {
        Direction::Forward => a < b,
        Direction::Reverse => a > b,
    };
    let mut out = Vec::with_capacity(db_page.len() + p.len());
    let mut pi = p.drain(..).peekable();
    for (k, v) in db_page {
        while let Some((pk, pv)) = pi.next_if(|(pk, _)| before(pk, &k)) {
            if let Some(pv) = pv {
                out.push((pk.clone(), pv.clone()));
            }
        }
        match pi.next_if(|(pk, _)| **pk == k) {
            Some((_, Some(pv))) => out.push((k, pv.clone())),
            Some((_, None)) => {}
            None => out.push((k, v)),
        }
    }
    for (pk, pv) in pi {
        if let Some(pv) = pv {
            out.push((pk.clone(), pv.clone()));
        }
    }
    (out, resume)
}
