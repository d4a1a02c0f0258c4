//! The Raft log, the vote and the committed log id.

use crate::error::{blocking, decode, encode, Error, Result};
use crate::keyspace::{Batch, Space, Spaces};
use crate::{Entry, NodeId, TypeConfig};
use cairn::{StdVfs, Vfs};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError, Vote,
};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";

type StorageResult<T> = std::result::Result<T, StorageError<NodeId>>;

/// openraft's log storage on Cairn. Clones share the database (the clone openraft asks for as
/// its log reader is one).
pub struct LogStore<V: Vfs + Clone = StdVfs> {
    spaces: Spaces<V>,
}

impl<V: Vfs + Clone> Clone for LogStore<V> {
    fn clone(&self) -> Self {
        LogStore {
            spaces: self.spaces.clone(),
        }
    }
}

fn index_bound(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(i.to_be_bytes()),
        Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_slice(b: &Bound<[u8; 8]>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry> {
    let entry: Entry = decode("log entry", value)?;
    if key != entry.log_id.index.to_be_bytes() {
        return Err(Error::corrupt(
            "log entry",
            format!("entry {} stored under key {key:?}", entry.log_id.index),
        ));
    }
    Ok(entry)
}

impl<V: Vfs + Clone> LogStore<V> {
    pub(crate) fn new(spaces: Spaces<V>) -> Self {
        LogStore { spaces }
    }

    fn entries(&self, lo: Bound<&u64>, hi: Bound<&u64>) -> Result<Vec<Entry>> {
        let (lo, hi) = (index_bound(lo), index_bound(hi));
        self.spaces
            .scan(Space::Log, as_slice(&lo), as_slice(&hi))
            .map(|r| {
                let (k, v) = r?;
                decode_entry(&k, &v)
            })
            .collect()
    }

    fn meta<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        self.spaces
            .get(Space::LogMeta, key)?
            .map(|v| decode(what, &v))
            .transpose()
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>> {
        let purged: Option<LogId<NodeId>> = self.meta("purged log id", PURGED)?;
        let last = match self
            .spaces
            .scan(Space::Log, Bound::Unbounded, Bound::Unbounded)
            .next_back()
        {
            Some(r) => {
                let (k, v) = r?;
                Some(decode_entry(&k, &v)?.log_id)
            }
            None => None,
        };
        Ok(LogState {
            last_log_id: last.or(purged),
            last_purged_log_id: purged,
        })
    }

    /// Deletes the log entries in `[lo, hi]` and applies `extra` in the same synced batch.
    fn delete_range(&self, lo: Bound<u64>, hi: Bound<u64>, mut batch: Batch) -> Result<()> {
        let (lo, hi) = (index_bound(lo.as_ref()), index_bound(hi.as_ref()));
        for r in self.spaces.scan(Space::Log, as_slice(&lo), as_slice(&hi)) {
            let (k, _) = r?;
            batch.delete(Space::Log, &k);
        }
        self.spaces.write(batch, true)?;
        Ok(())
    }
}

impl<V: Vfs + Clone> RaftLogReader<TypeConfig> for LogStore<V> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        self.entries(range.start_bound(), range.end_bound())
            .map_err(|e| e.storage(ErrorSubject::Logs, ErrorVerb::Read))
    }
}

impl<V: Vfs + Clone> RaftLogStorage<TypeConfig> for LogStore<V> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        self.log_state()
            .map_err(|e| e.storage(ErrorSubject::Logs, ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let err = |e: Error| e.storage(ErrorSubject::Vote, ErrorVerb::Write);
        let mut b = Batch::new();
        b.put(Space::LogMeta, VOTE, &encode("vote", vote).map_err(err)?);
        let spaces = self.spaces.clone();
        blocking(move || Ok(spaces.write(b, true)?))
            .await
            .map_err(err)
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.meta("vote", VOTE)
            .map_err(|e| e.storage(ErrorSubject::Vote, ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        let err = |e: Error| e.storage(ErrorSubject::Store, ErrorVerb::Write);
        let mut b = Batch::new();
        b.put(
            Space::LogMeta,
            COMMITTED,
            &encode("committed log id", &committed).map_err(err)?,
        );
        let spaces = self.spaces.clone();
        // Unsynced: openraft does not require the committed id to be durable, and the next
        // synced write (an append or a vote) makes it durable with everything before it.
        blocking(move || Ok(spaces.write(b, false)?))
            .await
            .map_err(err)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self
            .meta::<Option<LogId<NodeId>>>("committed log id", COMMITTED)
            .map_err(|e| e.storage(ErrorSubject::Store, ErrorVerb::Read))?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let err = |e: Error| e.storage(ErrorSubject::Logs, ErrorVerb::Write);
        let mut b = Batch::new();
        for entry in entries {
            let v = encode("log entry", &entry).map_err(err)?;
            b.put(Space::Log, &entry.log_id.index.to_be_bytes(), &v);
        }
        let spaces = self.spaces.clone();
        // One synced batch for the whole append: readable and durable when it returns, so
        // the callback can be called right away.
        let r = if b.is_empty() {
            Ok(())
        } else {
            blocking(move || Ok(spaces.write(b, true)?)).await
        };
        match r {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let this = self.clone();
        blocking(move || {
            this.delete_range(
                Bound::Included(log_id.index),
                Bound::Unbounded,
                Batch::new(),
            )
        })
        .await
        .map_err(|e| e.storage(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let err = |e: Error| e.storage(ErrorSubject::Logs, ErrorVerb::Delete);
        let mut b = Batch::new();
        b.put(
            Space::LogMeta,
            PURGED,
            &encode("purged log id", &log_id).map_err(err)?,
        );
        let this = self.clone();
        blocking(move || this.delete_range(Bound::Unbounded, Bound::Included(log_id.index), b))
            .await
            .map_err(err)
    }
}
