//! An in-memory log store and state machine, in the shape of openraft's own in-memory
//! examples (a `BTreeMap` log, a `BTreeMap` state machine, nothing durable), for the same
//! type configuration as the Cairn adapter: the baseline of the benchmark. (openraft's
//! published `openraft-memstore` 0.9 implements the older `RaftStorage` API with its own
//! request type, so it cannot run this service.)

use cairn_raft::{Entry, NodeId, Op, Response, TypeConfig};
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

#[derive(Default)]
struct Log {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
}

#[derive(Clone, Default)]
pub struct MemLog {
    inner: Arc<Mutex<Log>>,
}

impl MemLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let l = self.lock();
        let last = l.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: l.purged,
            last_log_id: last.or(l.purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut l = self.lock();
        for e in entries {
            l.entries.insert(e.log_id.index, e);
        }
        drop(l);
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let _ = self.lock().entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let mut l = self.lock();
        l.entries = l.entries.split_off(&(log_id.index + 1));
        l.purged = Some(log_id);
        Ok(())
    }
}

#[derive(Default)]
struct Sm {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
    snapshots: u64,
}

#[derive(Clone, Default)]
pub struct MemSm {
    inner: Arc<Mutex<Sm>>,
}

impl MemSm {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sm> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lock().data.get(key).cloned()
    }
}

fn io_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_snapshot(None, openraft::AnyError::error(e.to_string())).into()
}

impl RaftSnapshotBuilder<TypeConfig> for MemSm {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let mut sm = self.lock();
        let data: Vec<(&Vec<u8>, &Vec<u8>)> = sm.data.iter().collect();
        let bytes = postcard::to_allocvec(&data).map_err(io_err)?;
        sm.snapshots += 1;
        let meta = SnapshotMeta {
            last_log_id: sm.last_applied,
            last_membership: sm.membership.clone(),
            snapshot_id: format!("mem-{}", sm.snapshots),
        };
        sm.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for MemSm {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let sm = self.lock();
        Ok((sm.last_applied, sm.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut sm = self.lock();
        let mut out = Vec::new();
        for e in entries {
            sm.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(Response::default()),
                EntryPayload::Membership(m) => {
                    sm.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(Response::default());
                }
                EntryPayload::Normal(req) => {
                    let mut results = Vec::new();
                    for op in req.ops {
                        let ok = match op {
                            Op::Put { key, value } => {
                                sm.data.insert(key, value);
                                true
                            }
                            Op::Delete { key } => {
                                sm.data.remove(&key);
                                true
                            }
                            Op::Cas { key, expected, new } => {
                                if sm.data.get(&key) == expected.as_ref() {
                                    match new {
                                        Some(v) => sm.data.insert(key, v),
                                        None => sm.data.remove(&key),
                                    };
                                    true
                                } else {
                                    false
                                }
                            }
                        };
                        results.push(ok);
                    }
                    out.push(Response { results });
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let bytes = snapshot.into_inner();
        let data: Vec<(Vec<u8>, Vec<u8>)> = postcard::from_bytes(&bytes).map_err(io_err)?;
        let mut sm = self.lock();
        sm.data = data.into_iter().collect();
        sm.last_applied = meta.last_log_id;
        sm.membership = meta.last_membership.clone();
        sm.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        Ok(self.lock().snapshot.clone().map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
