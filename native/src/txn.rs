//! Optimistic transactions with serializable snapshot isolation: [`Db::transaction`],
//! [`Db::transact`]. The engine side (the conflict checker, the merged reads) is
//! `cairn_core::txn`.

use crate::{borrow_bound, Db, Iter, KeyRange, StdVfs, WriteOptions};
use cairn_core::key::Kind;
use cairn_core::txn::{pending_entries, PendingWrites, DEFAULT_KEYSPACE};
use cairn_core::{Error, Result};
use cairn_vfs::Vfs;
use std::ops::Bound;
use std::sync::Arc;

/// Attempts [`Db::transact`] makes before it returns [`Error::Conflict`].
pub const DEFAULT_RETRIES: usize = 16;

/// An optimistic transaction, made by [`Db::transaction`].
///
/// - **Reads** see the database as of the moment the transaction began, plus the
///   transaction's own writes (read-your-writes in [`get`](Transaction::get) and in every
///   scan, both directions).
/// - **Writes** ([`put`](Transaction::put), [`delete`](Transaction::delete)) are buffered
///   and invisible to everyone else until [`commit`](Transaction::commit).
/// - **Conflicts**: `commit` fails with [`Error::Conflict`], writing nothing, if any write
///   committed after this transaction began — by another transaction or by a plain
///   `put`/`delete`/`write` — touched a key this transaction read with
///   [`get_for_update`](Transaction::get_for_update) or a key inside a range or prefix it
///   scanned ([`range`](Transaction::range), [`prefix`](Transaction::prefix),
///   [`iter`](Transaction::iter): inserts into a scanned range, phantoms, conflict too).
///   Together that makes transactions serializable. [`get`](Transaction::get) is a snapshot
///   read that joins no conflict set: use it for what the transaction's writes do not depend
///   on (a `get` then a `put` of the same key is a lost-update risk; use `get_for_update`).
/// - A transaction that wrote nothing commits without any check and costs what a
///   [`Snapshot`](crate::Snapshot) costs.
/// - A commit is one [`WriteBatch`](crate::WriteBatch) through group commit: atomic, and
///   durable when `commit` returns (`commit_with(WriteOptions::NO_SYNC)` for a buffered one).
/// - After `commit` (whatever its result) or [`rollback`](Transaction::rollback), every
///   call returns [`Error::TransactionFinished`]. Dropping an unfinished transaction rolls it
///   back.
pub struct Transaction<V: Vfs + Clone = StdVfs> {
    db: Db<V>,
    /// `None` once finished (a commit hands it to the group-commit leader, which ends it).
    inner: Option<cairn_core::Transaction>,
    read_seq: u64,
}

impl<V: Vfs + Clone> std::fmt::Debug for Transaction<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("read_sequence", &self.read_seq)
            .field("active", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl<V: Vfs + Clone> Db<V> {
    /// Begins an optimistic transaction at the current state; see [`Transaction`].
    pub fn transaction(&self) -> Result<Transaction<V>> {
        let inner = self.shared().write().open_mut()?.begin_transaction()?;
        Ok(Transaction {
            db: self.clone(),
            read_seq: inner.read_sequence(),
            inner: Some(inner),
        })
    }

    /// Runs `f` in a transaction and commits it (synced), running it again on
    /// [`Error::Conflict`], up to [`DEFAULT_RETRIES`] attempts in all; see
    /// [`Db::transact_with`].
    pub fn transact<T>(&self, f: impl FnMut(&mut Transaction<V>) -> Result<T>) -> Result<T> {
        self.transact_with(DEFAULT_RETRIES, f)
    }

    /// Runs `f` in a fresh transaction and commits it unless `f` finished it itself; on
    /// [`Error::Conflict`] (from the commit, or returned by `f`) starts over with a new
    /// transaction, up to `max_attempts` attempts, then returns the `Conflict`. Any other
    /// error from `f` rolls the transaction back and is returned at once.
    ///
    /// **The closure may run more than once**, each time against a newer snapshot: it must
    /// not have effects outside the transaction that a retry would repeat (or it must make
    /// them idempotent), and it should compute its result from what it read in the
    /// transaction. Only the result of the attempt that committed is returned.
    pub fn transact_with<T>(
        &self,
        max_attempts: usize,
        mut f: impl FnMut(&mut Transaction<V>) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.transaction()?;
            let r = f(&mut tx).and_then(|v| {
                if tx.is_active() {
                    tx.commit()?;
                }
                Ok(v)
            });
            match r {
                Err(Error::Conflict) if attempt < max_attempts => {
                    drop(tx);
                    // Let the writer we lost to finish before reading again.
                    std::thread::yield_now();
                }
                other => return other,
            }
        }
    }
}

impl<V: Vfs + Clone> Transaction<V> {
    /// The value of `key` as this transaction sees it (its snapshot plus its own writes). A
    /// snapshot read: it does not join the conflict set.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let t = self.inner.as_ref().ok_or(Error::TransactionFinished)?;
        self.db
            .shared()
            .read()
            .open()?
            .transaction_get(t, DEFAULT_KEYSPACE, key.as_ref())
    }

    /// [`Transaction::get`], and joins the conflict set: the commit fails with
    /// [`Error::Conflict`] if another commit wrote `key` after this transaction began.
    pub fn get_for_update(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let t = self.inner.as_mut().ok_or(Error::TransactionFinished)?;
        self.db.shared().read().open()?.transaction_get_for_update(
            t,
            DEFAULT_KEYSPACE,
            key.as_ref(),
        )
    }

    /// Buffers `key` = `value` (visible to this transaction's reads at once, to others
    /// after the commit).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.active()?
            .put(DEFAULT_KEYSPACE, key.as_ref(), value.as_ref())
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.active()?.delete(DEFAULT_KEYSPACE, key.as_ref())
    }

    /// Iterates `range` as this transaction sees it, ascending (`.rev()` for descending), and
    /// adds the whole range to the conflict set (a commit into it after this transaction
    /// began, including an insert of a new key, makes the commit fail). The transaction's
    /// writes made after this call are not seen by the iterator.
    pub fn range(&mut self, range: impl KeyRange) -> Result<Iter<V>> {
        let (lo, hi) = range.into_bounds();
        self.scan(lo, hi, None)
    }

    /// Iterates the keys starting with `prefix` (see [`Transaction::range`]).
    pub fn prefix(&mut self, prefix: impl AsRef<[u8]>) -> Result<Iter<V>> {
        self.scan(
            Bound::Unbounded,
            Bound::Unbounded,
            Some(prefix.as_ref().to_vec()),
        )
    }

    /// Iterates every key (see [`Transaction::range`]).
    pub fn iter(&mut self) -> Result<Iter<V>> {
        self.range(..)
    }

    fn scan(
        &mut self,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        prefix: Option<Vec<u8>>,
    ) -> Result<Iter<V>> {
        if !self.db.is_open() {
            self.active()?;
            return Err(Error::Closed);
        }
        let range = (borrow_bound(&lo), borrow_bound(&hi));
        let t = self.active()?;
        t.track_range(DEFAULT_KEYSPACE, range, prefix.as_deref())?;
        // The buffered writes the range can see, copied: the iterator does not borrow the
        // transaction.
        let pending = t.pending_writes(DEFAULT_KEYSPACE).and_then(|p| {
            let mut copy = PendingWrites::new();
            let entries = pending_entries(p, borrow_bound(&lo), borrow_bound(&hi));
            for (seq, (k, v)) in (1..).zip(entries) {
                if prefix.as_deref().is_none_or(|p| k.starts_with(p)) {
                    match v {
                        Some(v) => copy.insert(&k, seq, Kind::Put, &v),
                        None => copy.insert(&k, seq, Kind::Delete, &[]),
                    }
                }
            }
            (!copy.is_empty()).then_some(copy)
        });
        let mut it = Iter::new(self.db.snapshot_at(self.read_seq), lo, hi, prefix);
        it.pending = pending.map(Arc::new);
        Ok(it)
    }

    /// Commits, durably (synced) when it returns; see [`Transaction::commit_with`].
    pub fn commit(&mut self) -> Result<()> {
        self.commit_with(WriteOptions::SYNC)
    }

    /// Checks for conflicts and commits the buffered writes as one batch through group
    /// commit. Fails with [`Error::Conflict`], writing nothing, when a write committed after
    /// this transaction began touched what it read for update or scanned. Whatever the
    /// result, the transaction is finished afterwards.
    pub fn commit_with(&mut self, opts: WriteOptions) -> Result<()> {
        let t = self.active()?;
        if t.is_read_only() {
            self.end(true);
            return Ok(());
        }
        let batch = t.to_batch();
        // The leader of the commit group checks it and ends it.
        let t = self.inner.take();
        self.db.shared().commit(batch, opts.sync, t)
    }

    /// Discards the buffered writes and finishes the transaction.
    pub fn rollback(&mut self) -> Result<()> {
        self.active()?;
        self.end(false);
        Ok(())
    }

    /// True until the transaction is committed, rolled back or failed to commit.
    pub fn is_active(&self) -> bool {
        self.inner.is_some()
    }

    /// The sequence number the transaction reads at.
    pub fn read_sequence(&self) -> u64 {
        self.read_seq
    }

    fn active(&mut self) -> Result<&mut cairn_core::Transaction> {
        self.inner.as_mut().ok_or(Error::TransactionFinished)
    }

    fn end(&mut self, committed: bool) {
        if let Some(mut t) = self.inner.take() {
            if let Ok(core) = self.db.shared().write().open_mut() {
                core.end_transaction(&mut t, committed);
            }
            // Else the engine is gone (closed): nothing to release.
        }
    }
}

impl<V: Vfs + Clone> Drop for Transaction<V> {
    fn drop(&mut self) {
        self.end(false);
    }
}
