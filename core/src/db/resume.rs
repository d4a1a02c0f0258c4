//! Resuming after a full disk without a reopen (issue 21 item 5, like RocksDB's automatic
//! recovery from no-space errors).
//!
//! A failed write, sync, table or manifest write poisons the database for writes. When every
//! failure was `ErrorKind::NoSpace`, the in-memory state is still consistent — a failed WAL
//! append advanced nothing, a failed flush or compaction installed nothing, a failed manifest
//! append left the version as it was — and only the files need repair. [`Db::resume`] (run
//! by the next write, sync, flush or close, so no caller has to know) repairs them:
//!
//! 1. the current WAL is cut back to its last synced offset and synced: a partial append, and
//!    records whose sync failed (their bytes may not have reached the disk), are dropped, so
//!    the WAL never holds bytes of unknown durability below later records;
//! 2. the memtable is frozen onto a new WAL and every frozen memtable is flushed into a
//!    table: the writes whose records step 1 dropped are in memory, and this makes them
//!    durable before any new write can be acknowledged after them (the recovered state stays
//!    a prefix of the writes).
//!
//! Only then is the poison lifted. If a step fails (the disk is still full), the database is
//! poisoned again with that error, and the next write retries. Nothing acknowledged is lost:
//! synced writes are below the synced offset, and unsynced acknowledged writes are in memory
//! and flushed by step 2. A write whose own commit failed (its caller got the error) may be
//! in the database after a resume: one whose WAL append failed is not, one whose sync failed
//! is (it was in the memtable, and step 2 made it durable, so the resume publishes it). A
//! failed write's outcome is unknown, as in other engines.
//! Any other error (`Io`, `Corruption`, ...) still needs a reopen.

use super::Db;
use crate::error::{Error, Result};
use alloc::format;
use alloc::string::String;
use cairn_vfs::Vfs;

/// True when `e` is a full disk.
pub(super) fn is_no_space(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == cairn_vfs::ErrorKind::NoSpace)
}

impl<V: Vfs + Clone> Db<V> {
    /// True when the database is poisoned and every failure that poisoned it was a full disk
    /// (`ErrorKind::NoSpace`): [`Db::resume`] may lift the poison without a reopen.
    pub fn is_resumable(&self) -> bool {
        self.poisoned.is_some() && self.poisoned_by_no_space && !self.closed
    }

    /// Repairs the files after a full disk and lifts the poison (see the module docs). `Ok`
    /// when the database was not poisoned; [`Error::Poisoned`] when a failure other than a
    /// full disk poisoned it, or while background work is still running (retry later); the
    /// error of the failed step when the disk is still full (the database stays poisoned).
    /// Writes, syncs, flushes and `close` call it themselves.
    pub fn resume(&mut self) -> Result<()> {
        self.check_open()?;
        let Some(why) = self.poisoned.clone() else {
            return Ok(());
        };
        if !self.poisoned_by_no_space {
            return Err(Error::Poisoned(why));
        }
        if !self.running.is_empty() {
            return Err(Error::Poisoned(format!(
                "{why} (resuming waits for the background work still running)"
            )));
        }
        let r = self.try_resume();
        match &r {
            Ok(()) => self.stats.resumes += 1,
            Err(e) => {
                self.poisoned = Some(why);
                self.poison(e);
            }
        }
        r
    }

    /// Runs [`Db::resume`] when the database is poisoned by a full disk.
    pub(super) fn resume_if_resumable(&mut self) -> Result<()> {
        if self.is_resumable() {
            self.resume()?;
        }
        Ok(())
    }

    fn try_resume(&mut self) -> Result<()> {
        let Some(wal) = self.wal.as_mut() else {
            return Err(Error::ReadOnly(String::from("no WAL")));
        };
        wal.truncate_to_synced()?;
        // The repair steps below are ordinary writes: they run unpoisoned, and a failure
        // poisons again (the caller restores the poison).
        self.poisoned = None;
        self.rotate()?;
        while !self.imm.is_empty() {
            if !self.step()? {
                return Err(Error::Poisoned(String::from(
                    "resume: no flush could be started",
                )));
            }
        }
        // Everything in memory is in tables now, also the writes of commits whose sync
        // failed: they are durable, so they become visible (their writers were told the
        // commit failed; a failed write's outcome is unknown).
        self.visible_seq = self.last_seq;
        Ok(())
    }
}
