//! The commit path: checks, sequence numbers, the WAL append, the memtable insert, the
//! publication of a commit, background WAL syncs, and memtable rotation.

use super::{check_batch, Db};
use crate::batch::WriteBatch;
use crate::compaction::{self, WritePressure};
use crate::error::{Error, Result};
use crate::filename::{self};
use crate::key::{self};
use crate::memtable::Frozen;
use crate::options::WriteOptions;
use crate::txn::{ConflictSet, Transaction};
use crate::wal::WalWriter;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{File, Vfs};

/// Writes appended to the WAL and memtable but not yet visible; see [`Db::commit_begin`].
#[derive(Debug)]
#[must_use = "a pending commit must be finished with Db::commit_finish"]
pub struct PendingCommit<F: File> {
    last_seq: u64,
    wal: Arc<F>,
    wal_number: u64,
    wal_offset: u64,
}

/// What [`Db::commit_begin_checked`] returns: the pending commit of the accepted batches
/// (`None` when none was), and per batch whether it was accepted.
pub type CheckedCommit<F> = (Option<PendingCommit<F>>, Vec<bool>);

impl<F: File> PendingCommit<F> {
    /// Syncs the WAL the writes went to. May run outside the engine's lock.
    pub fn sync(&self) -> Result<()> {
        Ok(self.wal.sync()?)
    }
    /// Sequence number of the last write in the commit.
    pub fn last_sequence(&self) -> u64 {
        self.last_seq
    }
}

impl<V: Vfs + Clone> Db<V> {
    /// Checks every record of `batch` against the size limits.
    pub fn validate_batch(&self, batch: &WriteBatch) -> Result<()> {
        check_batch(&self.opts, batch)
    }

    /// How much the writers should be held back now.
    pub fn write_pressure(&self) -> WritePressure {
        if self.imm.len() >= self.opts.max_immutable_memtables {
            return WritePressure::Stop;
        }
        compaction::write_pressure(&self.version, &self.opts, self.imm.len())
    }

    /// Records that writers were slowed down or stopped (for stats).
    pub fn note_pressure(&mut self, p: WritePressure) {
        match p {
            WritePressure::Slowdown(_) => self.stats.write_slowdowns += 1,
            WritePressure::Stop => self.stats.write_stops += 1,
            WritePressure::None => {}
        }
    }

    /// Step 1 of a commit: appends `batches` to the WAL as one record and inserts them into
    /// the memtable, invisible to readers until [`Db::commit_finish`]. Freezes the memtable
    /// first if it is full. On an I/O error the database is poisoned for writes.
    pub fn commit_begin(&mut self, batches: &[&WriteBatch]) -> Result<PendingCommit<V::File>> {
        let (pending, _) = self.commit_begin_checked(batches, &[])?;
        pending.ok_or_else(|| Error::InvalidArgument(String::from("nothing to commit")))
    }

    /// [`Db::commit_begin`] for a group that may hold transaction commits: `checks[i]`, when
    /// given, is the conflict set of the transaction whose writes are `batches[i]`. In group
    /// order, each such batch is checked against every write committed after its
    /// transaction's read sequence — including the batches accepted before it in this group
    /// — and left out on a conflict; the check and the sequence numbers are decided in this
    /// one call, so no other commit can come between. Returns the pending commit of the
    /// accepted batches (`None` when none was) and, per batch, whether it was accepted.
    pub fn commit_begin_checked(
        &mut self,
        batches: &[&WriteBatch],
        checks: &[Option<&ConflictSet>],
    ) -> Result<CheckedCommit<V::File>> {
        self.resume_if_resumable()?;
        self.check_writable()?;
        if self.mem.approximate_memory() >= self.opts.write_buffer_size {
            self.rotate()?;
        }
        let first = self.last_seq + 1;
        let mut accepted = Vec::with_capacity(batches.len());
        let mut count = 0u64;
        let recording = self.oracle.recording();
        for (i, b) in batches.iter().enumerate() {
            let ok = !checks
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|c| self.oracle.conflicts(c));
            if ok && recording && !b.is_empty() {
                self.oracle.record(first + count, b);
            }
            if ok {
                count += u64::from(b.len());
            } else {
                self.stats.txn_conflicts += 1;
            }
            accepted.push(ok);
        }
        if !accepted.iter().any(|&a| a) {
            return Ok((None, accepted));
        }
        if first + count > key::MAX_SEQUENCE {
            return Err(Error::InvalidArgument(String::from(
                "sequence numbers exhausted",
            )));
        }
        let mut taken = batches
            .iter()
            .zip(&accepted)
            .filter_map(|(b, &a)| a.then_some(*b));
        let payload: &[u8] = if accepted.len() == 1 {
            if let Some(b) = taken.next() {
                self.batch_buf.clone_from(b);
            }
            self.batch_buf.set_sequence(first);
            self.batch_buf.as_bytes()
        } else {
            self.batch_buf.clear();
            for b in taken {
                self.batch_buf.append(b);
            }
            self.batch_buf.set_sequence(first);
            self.batch_buf.as_bytes()
        };
        let Some(wal) = self.wal.as_mut() else {
            return Err(Error::ReadOnly(String::from("no WAL")));
        };
        if let Err(e) = wal.append(payload) {
            self.poison(&e);
            return Err(e);
        }
        let (wal_file, wal_number, wal_offset) = (wal.file().clone(), wal.number(), wal.size());
        self.stats.wal_bytes += payload.len() as u64;
        let mut seq = first;
        for (b, _) in batches.iter().zip(&accepted).filter(|(_, &a)| a) {
            for rec in b.iter() {
                // The batches were validated by the caller's encoding; a malformed record
                // here is a bug in the batch encoder, reported rather than trusted.
                let rec = rec?;
                self.mem.insert(rec.key, seq, rec.kind, rec.value);
                seq += 1;
            }
        }
        self.last_seq = first + count - 1;
        self.stats.commits += 1;
        self.stats.batches += accepted.iter().filter(|&&a| a).count() as u64;
        if self.batch_buf.encoded_len() > (1 << 20) {
            self.batch_buf = WriteBatch::new();
        }
        Ok((
            Some(PendingCommit {
                last_seq: self.last_seq,
                wal: wal_file,
                wal_number,
                wal_offset,
            }),
            accepted,
        ))
    }

    /// Commits `tx` in this thread (the browser and the tests use it; the native crate sends
    /// the batch through group commit instead): a read-only transaction just ends; otherwise
    /// its writes are checked for conflicts and committed as one batch, synced if asked.
    /// Fails with [`Error::Conflict`] (nothing written) when a write committed after `tx`
    /// began touched what it read for update or scanned. Either way `tx` is finished.
    pub fn commit_transaction(&mut self, tx: &mut Transaction, opts: WriteOptions) -> Result<()> {
        tx.check_active()?;
        if tx.is_read_only() {
            self.end_transaction(tx, true);
            return Ok(());
        }
        let batch = tx.to_batch();
        let r = self.validate_batch(&batch).and_then(|_| {
            match self.commit_begin_checked(&[&batch], &[Some(tx.conflict_set())])? {
                (Some(pending), _) => {
                    let synced = opts.sync.then(|| pending.sync());
                    self.commit_finish(pending, synced)
                }
                (None, _) => Err(Error::Conflict),
            }
        });
        self.end_transaction(tx, r.is_ok());
        r
    }

    /// Step 3 of a commit: publishes the writes, or poisons the database if `synced` failed.
    pub fn commit_finish(
        &mut self,
        pending: PendingCommit<V::File>,
        synced: Option<Result<()>>,
    ) -> Result<()> {
        match synced {
            Some(Err(e)) => {
                self.poison(&e);
                Err(e)
            }
            other => {
                if other.is_some() {
                    self.stats.wal_syncs += 1;
                    if let Some(wal) = self
                        .wal
                        .as_mut()
                        .filter(|w| w.number() == pending.wal_number)
                    {
                        wal.mark_synced(pending.wal_offset);
                    }
                }
                self.visible_seq = self.visible_seq.max(pending.last_seq);
                self.oracle.after_commit(self.last_seq, self.visible_seq);
                Ok(())
            }
        }
    }

    /// Commits one batch: WAL append, memtable insert, sync if asked, publish.
    pub fn write(&mut self, batch: &WriteBatch, opts: WriteOptions) -> Result<()> {
        self.validate_batch(batch)?;
        if batch.is_empty() {
            self.resume_if_resumable()?;
            return self.check_writable();
        }
        let pending = self.commit_begin(&[batch])?;
        let synced = opts.sync.then(|| pending.sync());
        self.commit_finish(pending, synced)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(&b, opts)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8], opts: WriteOptions) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(&b, opts)
    }

    /// Makes every write so far durable.
    pub fn sync_wal(&mut self) -> Result<()> {
        self.resume_if_resumable()?;
        self.check_writable()?;
        let Some(wal) = self.wal.as_mut() else {
            return Err(Error::ReadOnly(String::from("no WAL")));
        };
        if let Err(e) = wal.sync() {
            self.poison(&e);
            return Err(e);
        }
        self.stats.wal_syncs += 1;
        Ok(())
    }

    /// The current WAL file and how far it is written, when more than
    /// `Options::wal_bytes_per_sync` bytes of it are unsynced. The native crate syncs it on a
    /// background thread and reports back with [`Db::note_wal_synced`].
    pub fn wal_sync_point(&self) -> Option<(Arc<V::File>, u64, u64)> {
        let every = self.opts.wal_bytes_per_sync;
        let wal = self.wal.as_ref()?;
        (every > 0 && self.poisoned.is_none() && !self.closed && wal.unsynced_bytes() >= every)
            .then(|| (wal.file().clone(), wal.number(), wal.size()))
    }

    /// Records a background sync of WAL `number` up to `offset` (or poisons on failure).
    pub fn note_wal_synced(&mut self, number: u64, offset: u64, result: Result<()>) -> Result<()> {
        match result {
            Ok(()) => {
                if let Some(wal) = self.wal.as_mut().filter(|w| w.number() == number) {
                    wal.mark_synced(offset);
                }
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                Err(e)
            }
        }
    }

    /// Freezes the active memtable and starts a new WAL. The old WAL is synced first, so a
    /// crash never keeps writes of the new WAL while losing earlier ones of the old.
    pub fn rotate(&mut self) -> Result<()> {
        self.resume_if_resumable()?;
        self.check_writable()?;
        if self.mem.is_empty() {
            return Ok(());
        }
        let r = (|| {
            self.wal
                .as_mut()
                .ok_or_else(|| Error::ReadOnly(String::from("no WAL")))?
                .sync()?;
            let n = self.files.allocate();
            let file = self.vfs.create(&filename::wal(n))?;
            let mut w = WalWriter::create(file, n)?;
            w.sync()?;
            self.vfs.sync_dir()?;
            Ok::<_, Error>(w)
        })();
        let w = match r {
            Ok(w) => w,
            Err(e) => {
                self.poison(&e);
                return Err(e);
            }
        };
        let frozen = Frozen {
            mem: Arc::new(core::mem::take(&mut self.mem)),
            first_wal: self.mem_first_wal,
        };
        self.imm.push_back(Arc::new(frozen));
        self.mem_first_wal = w.number();
        self.wal = Some(w);
        Ok(())
    }
}
