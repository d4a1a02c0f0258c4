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
//! The oracle keeps the committed batches (their encoded bytes, in commit order) only while a
//! live transaction began before them or they are not yet visible: when the oldest
//! transaction ends, the batches it needed are dropped, and with no live transaction only
//! the commits still in flight are kept. The history is capped at [`MAX_CONFLICT_BYTES`];
//! past it the oracle forgets everything and raises its *floor*, and a transaction that began
//! below the floor and read something fails with `Conflict` (it cannot be checked, so it is
//! retried). Nothing is kept until the first transaction of an open begins.
//!
//! A transaction's point reads are kept as 64-bit fingerprints of (keyspace id, key), sorted
//! (as Badger does; two different keys sharing a fingerprint can only cause a spurious
//! conflict, never a missed one), its scanned ranges as (keyspace id, bounds), and its
//! buffered writes in a small [`Memtable`] per keyspace (the engine's own arena B+tree, with
//! transaction-local sequence numbers). Today every key is in [`DEFAULT_KEYSPACE`].

use crate::batch::WriteBatch;
use crate::db_iter::Direction;
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::{self, Kind};
use crate::memtable::{Memtable, MemtableIter};
use crate::range::{in_bounds, narrow_to_prefix, overlaps};
use crate::snapshot::{Entry, Snapshot};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Bound;

/// A keyspace's id. Only the default keyspace exists today.
pub type KeyspaceId = u32;
/// The keyspace of every key today.
pub const DEFAULT_KEYSPACE: KeyspaceId = 0;
/// The most bytes of committed-write history the oracle keeps for conflict checks.
pub const MAX_CONFLICT_BYTES: usize = 32 << 20;

/// The buffered writes of one keyspace: the newest entry per key wins; a delete is a
/// [`Kind::Delete`] entry.
pub type PendingWrites = Memtable;

/// A range a transaction scanned: keyspace, lower and upper bound.
type TrackedRange = (KeyspaceId, Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The fingerprint of (`ks`, `key`): 64-bit FNV-1a.
fn fingerprint(ks: KeyspaceId, key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in ks.to_le_bytes().iter().chain(key) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What a transaction read, checked at commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConflictSet {
    read_seq: u64,
    /// Sorted fingerprints of the keys read for update.
    keys: Vec<u64>,
    ranges: Vec<TrackedRange>,
}

impl ConflictSet {
    /// The sequence number the transaction read at.
    pub fn read_sequence(&self) -> u64 {
        self.read_seq
    }

    /// True when nothing was read into the set (such a transaction never conflicts).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }

    /// True if a write of `key` in `ks` touches the set.
    fn touches(&self, ks: KeyspaceId, key: &[u8]) -> bool {
        self.keys.binary_search(&fingerprint(ks, key)).is_ok()
            || self
                .ranges
                .iter()
                .any(|(r, lo, hi)| *r == ks && in_bounds(key, lo, hi))
    }
}

impl ConflictSet {
    /// True if a range delete of `[start, end)` in `ks` may touch the set: when it overlaps a
    /// scanned range, and — point reads being kept as fingerprints, which have no order —
    /// whenever the set holds any point read at all (a conservative answer: at worst a
    /// spurious conflict, never a missed one). An empty range touches nothing.
    fn touches_range(&self, ks: KeyspaceId, start: &[u8], end: &[u8]) -> bool {
        if start >= end {
            return false;
        }
        !self.keys.is_empty()
            || self
                .ranges
                .iter()
                .any(|(r, lo, hi)| *r == ks && overlaps(start, end, lo, hi))
    }
}

/// The commit-time conflict checker: the recent committed batches and the read sequence
/// numbers of the live transactions.
#[derive(Debug, Default)]
pub(crate) struct Oracle {
    /// Read sequence → live transactions that began there.
    active: BTreeMap<u64, usize>,
    /// Committed batches (first sequence, batch) in commit order, while some transaction
    /// may need them.
    history: Vec<(u64, WriteBatch)>,
    bytes: usize,
    /// Commits at or below this sequence may be missing from `history`.
    floor: u64,
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
                self.sweep(visible_seq);
            }
        }
    }

    /// Number of live transactions.
    pub(crate) fn live(&self) -> usize {
        self.active.values().sum()
    }

    /// Batches kept and their bytes.
    pub(crate) fn tracked(&self) -> (usize, usize) {
        (self.history.len(), self.bytes)
    }

    /// True if a write committed after `set.read_seq` touched what `set` read.
    pub(crate) fn conflicts(&self, set: &ConflictSet) -> bool {
        if set.is_empty() {
            return false;
        }
        if set.read_seq < self.floor {
            return true;
        }
        // Newest first, down to the transaction's read point (a batch is atomic: all of its
        // records are above the read sequence or none is).
        self.history
            .iter()
            .rev()
            .take_while(|(first, _)| *first > set.read_seq)
            .any(|(_, b)| {
                b.iter().any(|r| {
                    r.map_or(true, |r| match r.kind {
                        Kind::RangeDelete => set.touches_range(DEFAULT_KEYSPACE, r.key, r.value),
                        _ => set.touches(DEFAULT_KEYSPACE, r.key),
                    })
                })
            })
    }

    /// True once a transaction began (commits must record their batches).
    pub(crate) fn recording(&self) -> bool {
        self.enabled
    }

    /// Records a batch committed with sequence numbers from `first`.
    pub(crate) fn record(&mut self, first: u64, batch: &WriteBatch) {
        self.bytes += batch.encoded_len();
        self.history.push((first, batch.clone()));
    }

    /// After a commit: drops what no transaction needs, and forgets everything past the byte
    /// cap.
    pub(crate) fn after_commit(&mut self, last_seq: u64, visible_seq: u64) {
        self.sweep(visible_seq);
        if self.bytes > MAX_CONFLICT_BYTES {
            self.history.clear();
            self.bytes = 0;
            self.floor = self.floor.max(last_seq);
        }
    }

    /// Drops the batches no live or future transaction can conflict with: those at or below
    /// both the oldest live read sequence and the visible sequence.
    fn sweep(&mut self, visible_seq: u64) {
        let horizon = match self.active.keys().next() {
            Some(&oldest) => oldest.min(visible_seq),
            None => visible_seq,
        };
        let n = self
            .history
            .iter()
            .take_while(|(first, b)| first + u64::from(b.len()) - 1 <= horizon)
            .count();
        if n > 0 {
            self.bytes -= self.history[..n]
                .iter()
                .map(|(_, b)| b.encoded_len())
                .sum::<usize>();
            self.history.drain(..n);
        }
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
    /// Buffered writes per keyspace, with transaction-local sequence numbers.
    writes: Vec<(KeyspaceId, PendingWrites)>,
    next_seq: u64,
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
            writes: Vec::new(),
            next_seq: 1,
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
        self.writes.is_empty()
    }

    /// What the transaction read so far.
    pub fn conflict_set(&self) -> &ConflictSet {
        &self.conflicts
    }

    /// The buffered write of `key`, if any: `Some(Some(v))` a put, `Some(None)` a delete.
    pub fn pending(&self, ks: KeyspaceId, key: &[u8]) -> Option<Option<&[u8]>> {
        let (kind, v) = self.pending_writes(ks)?.get(key, key::MAX_SEQUENCE)?;
        Some((kind == Kind::Put).then_some(v))
    }

    /// The buffered writes of keyspace `ks`.
    pub fn pending_writes(&self, ks: KeyspaceId) -> Option<&PendingWrites> {
        self.writes.iter().find(|(k, _)| *k == ks).map(|(_, m)| m)
    }

    /// Adds `key` to the conflict set (as `get_for_update` does).
    pub fn track_key(&mut self, ks: KeyspaceId, key: &[u8]) -> Result<()> {
        self.check_active()?;
        self.check_key(key)?;
        let fp = fingerprint(ks, key);
        if let Err(i) = self.conflicts.keys.binary_search(&fp) {
            self.conflicts.keys.insert(i, fp);
        }
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
        let (lo, hi) = narrow_to_prefix(range, prefix);
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
        self.buffer(ks, key, Kind::Put, value);
        Ok(())
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, ks: KeyspaceId, key: &[u8]) -> Result<()> {
        self.check_active()?;
        self.check_key(key)?;
        self.buffer(ks, key, Kind::Delete, &[]);
        Ok(())
    }

    fn buffer(&mut self, ks: KeyspaceId, key: &[u8], kind: Kind, value: &[u8]) {
        let i = match self.writes.iter().position(|(k, _)| *k == ks) {
            Some(i) => i,
            None => {
                self.writes.push((ks, Memtable::new()));
                self.writes.len() - 1
            }
        };
        self.writes[i].1.insert(key, self.next_seq, kind, value);
        self.next_seq += 1;
    }

    /// The buffered writes as one batch, in key order (the default keyspace only today).
    pub fn to_batch(&self) -> WriteBatch {
        let mut b = WriteBatch::new();
        for (_, m) in &self.writes {
            for (k, v) in pending_entries(m, Bound::Unbounded, Bound::Unbounded) {
                match v {
                    Some(v) => b.put(&k, &v),
                    None => b.delete(&k),
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
        self.writes = Vec::new();
        self.snap.take()
    }
}

/// The newest buffered write of every key of `pending` within `lo`..`hi`, in key order:
/// `(key, Some(value))` for a put, `(key, None)` for a delete.
pub fn pending_entries(
    pending: &PendingWrites,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut it = MemtableIter::new(pending);
    // Positioning a memtable iterator cannot fail.
    let _ = match lo {
        Bound::Included(k) | Bound::Excluded(k) => {
            it.seek(&key::encode(k, key::MAX_SEQUENCE, Kind::Put))
        }
        Bound::Unbounded => it.seek_to_first(),
    };
    while it.valid() {
        let ikey = it.key();
        let k = key::user_key(ikey);
        let past = match hi {
            Bound::Included(h) => k > h,
            Bound::Excluded(h) => k >= h,
            Bound::Unbounded => false,
        };
        if past {
            break;
        }
        // The first entry of a key is its newest.
        let skip = matches!(lo, Bound::Excluded(l) if k == l)
            || out.last().is_some_and(|(last, _)| last.as_slice() == k);
        if !skip {
            let put = key::kind_byte(ikey) == Kind::Put as u8;
            out.push((Vec::from(k), put.then(|| Vec::from(it.value()))));
        }
        if it.next().is_err() {
            break;
        }
    }
    out
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
    if pending.is_empty() {
        return (db_page, resume);
    }
    let mut p = pending_entries(pending, lo, hi);
    if p.is_empty() {
        return (db_page, resume);
    }
    if direction == Direction::Reverse {
        p.reverse();
    }
    let before = |a: &[u8], b: &[u8]| match direction {
        Direction::Forward => a < b,
        Direction::Reverse => a > b,
    };
    let mut out = Vec::with_capacity(db_page.len() + p.len());
    let mut pi = p.into_iter().peekable();
    for (k, v) in db_page {
        while let Some((pk, pv)) = pi.next_if(|(pk, _)| before(pk, &k)) {
            if let Some(pv) = pv {
                out.push((pk, pv));
            }
        }
        match pi.next_if(|(pk, _)| *pk == k) {
            Some((_, Some(pv))) => out.push((k, pv)),
            Some((_, None)) => {}
            None => out.push((k, v)),
        }
    }
    out.extend(pi.filter_map(|(k, v)| v.map(|v| (k, v))));
    (out, resume)
}
