//! The replicated key-value state machine and its snapshots.

use crate::blob::{self, BlobWriter};
use crate::error::{blocking, decode, encode, Error, Result};
use crate::keyspace::{Batch, Space, Spaces, SpacesSnapshot};
use crate::{Entry, NodeId, Op, Response, TypeConfig, MAX_KEY_LEN, MAX_VALUE_LEN};
use cairn::{StdVfs, Vfs};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Cursor;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// Key of the applied state in `SmMeta`.
const APPLIED: &[u8] = b"applied";
/// Key of the stored snapshot's description in `SmMeta`.
const SNAPSHOT: &[u8] = b"snapshot";
/// Bytes of one stored snapshot chunk (one value).
const CHUNK: usize = 1 << 20;
/// Bytes of writes per unsynced batch when a snapshot is installed or garbage is removed.
const BATCH_BYTES: usize = 4 << 20;

type StorageResult<T> = std::result::Result<T, StorageError<NodeId>>;
type Membership = StoredMembership<NodeId, BasicNode>;

/// What the state machine has applied; stored in the same batch as the data it describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Applied {
    /// The data generation: data keys are `Data / generation / user key`. Installing a
    /// snapshot writes a new generation and switches to it in one synced batch.
    generation: u64,
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
}

/// The stored snapshot: its meta and where its chunks are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    /// Chunks are `Snapshot / number / chunk index`.
    number: u64,
    len: u64,
    crc: u32,
}

fn data_key(generation: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&generation.to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn chunk_key(number: u64, chunk: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&number.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

fn read_applied<V: Vfs + Clone>(snap: &SpacesSnapshot<V>) -> Result<Applied> {
    match snap.get(Space::SmMeta, APPLIED)? {
        Some(v) => decode("applied state", &v),
        None => Ok(Applied::default()),
    }
}

fn read_stored<V: Vfs + Clone>(snap: &SpacesSnapshot<V>) -> Result<Option<StoredSnapshot>> {
    snap.get(Space::SmMeta, SNAPSHOT)?
        .map(|v| decode("stored snapshot", &v))
        .transpose()
}

/// The user keys and values of data generation `g`.
fn scan_generation<V: Vfs + Clone>(
    snap: &SpacesSnapshot<V>,
    g: u64,
) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> {
    let lo = g.to_be_bytes();
    let hi = g.checked_add(1).map(u64::to_be_bytes);
    let hi = match &hi {
        Some(h) => Bound::Excluded(&h[..]),
        None => Bound::Unbounded,
    };
    snap.scan(Space::Data, Bound::Included(&lo), hi)
        .map(move |r| {
            let (k, v) = r?;
            match k.strip_prefix(&lo[..]) {
                Some(user) => Ok((user.to_vec(), v)),
                None => Err(Error::corrupt(
                    "data key",
                    format!("{k:?} outside generation {g}"),
                )),
            }
        })
}

/// Deletes every key of `space` in the bounds, in unsynced batches of bounded size.
fn delete_all<V: Vfs + Clone>(
    spaces: &Spaces<V>,
    space: Space,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
) -> Result<()> {
    let mut b = Batch::new();
    for r in spaces.scan(space, lo, hi) {
        let (k, _) = r?;
        b.delete(space, &k);
        if b.bytes() >= BATCH_BYTES {
            spaces.write(std::mem::take(&mut b), false)?;
        }
    }
    if !b.is_empty() {
        spaces.write(b, false)?;
    }
    Ok(())
}

/// Stores the chunks of `bytes` as snapshot `number` (unsynced; the caller's synced batch
/// that points at them makes them durable).
fn write_chunks<V: Vfs + Clone>(spaces: &Spaces<V>, number: u64, bytes: &[u8]) -> Result<()> {
    let mut b = Batch::new();
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let i = u32::try_from(i).map_err(|_| Error::InvalidRequest("snapshot too large".into()))?;
        b.put(Space::Snapshot, &chunk_key(number, i), chunk);
        if b.bytes() >= BATCH_BYTES {
            spaces.write(std::mem::take(&mut b), false)?;
        }
    }
    if !b.is_empty() {
        spaces.write(b, false)?;
    }
    Ok(())
}

fn delete_chunks_except<V: Vfs + Clone>(spaces: &Spaces<V>, keep: Option<u64>) -> Result<()> {
    match keep {
        None => delete_all(spaces, Space::Snapshot, Bound::Unbounded, Bound::Unbounded),
        Some(n) => {
            delete_all(
                spaces,
                Space::Snapshot,
                Bound::Unbounded,
                Bound::Excluded(&n.to_be_bytes()),
            )?;
            match n.checked_add(1) {
                Some(next) => delete_all(
                    spaces,
                    Space::Snapshot,
                    Bound::Included(&next.to_be_bytes()),
                    Bound::Unbounded,
                ),
                None => Ok(()),
            }
        }
    }
}

fn delete_generations_except<V: Vfs + Clone>(spaces: &Spaces<V>, keep: u64) -> Result<()> {
    delete_all(
        spaces,
        Space::Data,
        Bound::Unbounded,
        Bound::Excluded(&keep.to_be_bytes()),
    )?;
    match keep.checked_add(1) {
        Some(next) => delete_all(
            spaces,
            Space::Data,
            Bound::Included(&next.to_be_bytes()),
            Bound::Unbounded,
        ),
        None => Ok(()),
    }
}

/// Reads the stored snapshot's bytes and checks them against its description.
fn load_snapshot<V: Vfs + Clone>(spaces: &Spaces<V>) -> Result<Option<Snapshot<TypeConfig>>> {
    let snap = spaces.snapshot();
    let Some(stored) = read_stored(&snap)? else {
        return Ok(None);
    };
    let lo = chunk_key(stored.number, 0);
    let hi = chunk_key(stored.number, u32::MAX);
    let mut bytes = Vec::with_capacity(usize::try_from(stored.len).unwrap_or(0));
    for r in snap.scan(Space::Snapshot, Bound::Included(&lo), Bound::Included(&hi)) {
        let (_, v) = r?;
        bytes.extend_from_slice(&v);
    }
    if bytes.len() as u64 != stored.len || crc32fast::hash(&bytes) != stored.crc {
        return Err(Error::corrupt(
            "stored snapshot",
            format!(
                "{} bytes with crc {:08x}, expected {} with {:08x}",
                bytes.len(),
                crc32fast::hash(&bytes),
                stored.len,
                stored.crc
            ),
        ));
    }
    Ok(Some(Snapshot {
        meta: stored.meta,
        snapshot: Box::new(Cursor::new(bytes)),
    }))
}

/// openraft's state machine on Cairn: a replicated map from byte keys to byte values.
pub struct StateMachine<V: Vfs + Clone = StdVfs> {
    spaces: Spaces<V>,
    applied: Applied,
    /// Serializes storing a snapshot (built or installed).
    snapshot_lock: Arc<Mutex<()>>,
}

impl<V: Vfs + Clone> StateMachine<V> {
    pub(crate) fn open(spaces: Spaces<V>) -> Result<Self> {
        let snap = spaces.snapshot();
        let applied = read_applied(&snap)?;
        let stored = read_stored(&snap)?;
        drop(snap);
        // Leftovers of an installation or a snapshot store that a crash interrupted.
        delete_generations_except(&spaces, applied.generation)?;
        delete_chunks_except(&spaces, stored.map(|s| s.number))?;
        Ok(StateMachine {
            spaces,
            applied,
            snapshot_lock: Arc::new(Mutex::new(())),
        })
    }

    /// A handle that reads the applied state (for a service's reads; after
    /// `Raft::ensure_linearizable` they are linearizable).
    pub fn reader(&self) -> KvReader<V> {
        KvReader {
            spaces: self.spaces.clone(),
        }
    }

    fn apply_entries(
        spaces: &Spaces<V>,
        mut applied: Applied,
        entries: Vec<Entry>,
    ) -> Result<(Applied, Vec<Response>)> {
        let generation = applied.generation;
        let mut b = Batch::new();
        // Values written by earlier operations of this call, for compare-and-set.
        let mut pending: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Response::default()),
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    responses.push(Response::default());
                }
                EntryPayload::Normal(req) => {
                    let mut results = Vec::with_capacity(req.ops.len());
                    for op in req.ops {
                        // Deterministic on every node: the limits are constants.
                        if op.check().is_err() {
                            results.push(false);
                            continue;
                        }
                        let (key, value) = match op {
                            Op::Put { key, value } => (key, Some(value)),
                            Op::Delete { key } => (key, None),
                            Op::Cas { key, expected, new } => {
                                let current = match pending.get(&key) {
                                    Some(v) => v.clone(),
                                    None => spaces.get(Space::Data, &data_key(generation, &key))?,
                                };
                                if current != expected {
                                    results.push(false);
                                    continue;
                                }
                                (key, new)
                            }
                        };
                        let dk = data_key(generation, &key);
                        match &value {
                            Some(v) => b.put(Space::Data, &dk, v),
                            None => b.delete(Space::Data, &dk),
                        }
                        pending.insert(key, value);
                        results.push(true);
                    }
                    responses.push(Response { results });
                }
            }
        }
        b.put(Space::SmMeta, APPLIED, &encode("applied state", &applied)?);
        // Unsynced: a crash loses at most a suffix of applies, which openraft re-applies from
        // the synced log; data and applied state stay consistent because they share a batch.
        spaces.write(b, false)?;
        Ok((applied, responses))
    }

    fn install(
        spaces: &Spaces<V>,
        lock: &Mutex<()>,
        current: &Applied,
        meta: SnapshotMeta<NodeId, BasicNode>,
        bytes: Vec<u8>,
    ) -> Result<Applied> {
        let records = blob::parse(&bytes)?;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let generation = current.generation.wrapping_add(1);
        // The new generation, unsynced: invisible until the switch below.
        let mut b = Batch::new();
        for r in records {
            let (k, v) = r?;
            if k.len() > MAX_KEY_LEN || v.len() > MAX_VALUE_LEN {
                return Err(Error::BadSnapshot(
                    "entry over the state machine's limits".into(),
                ));
            }
            b.put(Space::Data, &data_key(generation, k), v);
            if b.bytes() >= BATCH_BYTES {
                spaces.write(std::mem::take(&mut b), false)?;
            }
        }
        if !b.is_empty() {
            spaces.write(b, false)?;
        }
        let old = read_stored(&spaces.snapshot())?;
        let number = old.as_ref().map_or(1, |s| s.number.wrapping_add(1));
        write_chunks(spaces, number, &bytes)?;
        let applied = Applied {
            generation,
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let stored = StoredSnapshot {
            meta,
            number,
            len: bytes.len() as u64,
            crc: crc32fast::hash(&bytes),
        };
        // The switch: data generation, applied state and current snapshot, atomically.
        let mut b = Batch::new();
        b.put(Space::SmMeta, APPLIED, &encode("applied state", &applied)?);
        b.put(
            Space::SmMeta,
            SNAPSHOT,
            &encode("stored snapshot", &stored)?,
        );
        spaces.write(b, true)?;
        delete_generations_except(spaces, generation)?;
        delete_chunks_except(spaces, Some(number))?;
        Ok(applied)
    }
}

impl<V: Vfs + Clone> RaftStateMachine<TypeConfig> for StateMachine<V> {
    type SnapshotBuilder = SnapshotBuilder<V>;

    async fn applied_state(&mut self) -> StorageResult<(Option<LogId<NodeId>>, Membership)> {
        Ok((self.applied.last_applied, self.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(Vec::new());
        };
        let spaces = self.spaces.clone();
        let applied = self.applied.clone();
        let (applied, responses) =
            blocking(move || StateMachine::apply_entries(&spaces, applied, entries))
                .await
                .map_err(|e| e.storage(ErrorSubject::Apply(last), ErrorVerb::Write))?;
        self.applied = applied;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            spaces: self.spaces.clone(),
            snapshot_lock: self.snapshot_lock.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let err = |e: Error| {
            e.storage(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )
        };
        let spaces = self.spaces.clone();
        let lock = self.snapshot_lock.clone();
        let current = self.applied.clone();
        let meta2 = meta.clone();
        let applied = blocking(move || {
            StateMachine::install(&spaces, &lock, &current, meta2, snapshot.into_inner())
        })
        .await
        .map_err(err)?;
        self.applied = applied;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let spaces = self.spaces.clone();
        blocking(move || load_snapshot(&spaces))
            .await
            .map_err(|e| e.storage(ErrorSubject::Snapshot(None), ErrorVerb::Read))
    }
}

/// Builds a snapshot from one Cairn snapshot of the state machine and stores it.
pub struct SnapshotBuilder<V: Vfs + Clone = StdVfs> {
    spaces: Spaces<V>,
    snapshot_lock: Arc<Mutex<()>>,
}

impl<V: Vfs + Clone> SnapshotBuilder<V> {
    fn build(spaces: &Spaces<V>, lock: &Mutex<()>) -> Result<Snapshot<TypeConfig>> {
        // One read point for the applied state and every key.
        let snap = spaces.snapshot();
        let applied = read_applied(&snap)?;
        let g = applied.generation;
        let mut w = BlobWriter::new();
        for r in scan_generation(&snap, g) {
            let (k, v) = r?;
            w.add(&k, &v)?;
        }
        drop(snap);
        let bytes = w.finish();

        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = read_stored(&spaces.snapshot())?;
        let number = old.as_ref().map_or(1, |s| s.number.wrapping_add(1));
        let snapshot_id = match applied.last_applied {
            Some(l) => format!(
                "{}-{}-{}-{number}",
                l.leader_id.term, l.leader_id.node_id, l.index
            ),
            None => format!("none-{number}"),
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
            snapshot_id,
        };
        // A snapshot installed meanwhile is newer than this one: keep it as the current one.
        let newer_stored = old
            .as_ref()
            .is_some_and(|o| o.meta.last_log_id > meta.last_log_id);
        if !newer_stored {
            write_chunks(spaces, number, &bytes)?;
            let stored = StoredSnapshot {
                meta: meta.clone(),
                number,
                len: bytes.len() as u64,
                crc: crc32fast::hash(&bytes),
            };
            let mut b = Batch::new();
            b.put(
                Space::SmMeta,
                SNAPSHOT,
                &encode("stored snapshot", &stored)?,
            );
            spaces.write(b, true)?;
            delete_chunks_except(spaces, Some(number))?;
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl<V: Vfs + Clone> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<V> {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let spaces = self.spaces.clone();
        let lock = self.snapshot_lock.clone();
        blocking(move || SnapshotBuilder::build(&spaces, &lock))
            .await
            .map_err(|e| e.storage(ErrorSubject::Snapshot(None), ErrorVerb::Write))
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Reads the state machine's data (a consistent view: the generation and the key are read at
/// one Cairn snapshot).
pub struct KvReader<V: Vfs + Clone = StdVfs> {
    spaces: Spaces<V>,
}

impl<V: Vfs + Clone> Clone for KvReader<V> {
    fn clone(&self) -> Self {
        KvReader {
            spaces: self.spaces.clone(),
        }
    }
}

impl<V: Vfs + Clone> KvReader<V> {
    /// The applied value of `key`.
    pub fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, Error> {
        let snap = self.spaces.snapshot();
        let applied = read_applied(&snap)?;
        Ok(snap.get(Space::Data, &data_key(applied.generation, key))?)
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> std::result::Result<Option<LogId<NodeId>>, Error> {
        Ok(read_applied(&self.spaces.snapshot())?.last_applied)
    }

    /// Every applied key and value, in key order (for tests and tools; reads the whole map).
    pub fn entries(&self) -> std::result::Result<Vec<KeyValue>, Error> {
        let snap = self.spaces.snapshot();
        let g = read_applied(&snap)?.generation;
        scan_generation(&snap, g).collect()
    }

    /// The database, e.g. to close it.
    pub fn db(&self) -> &cairn::Db<V> {
        self.spaces.db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn::{Db, MemVfs, Options};

    #[test]
    fn leftovers_of_an_interrupted_install_are_removed_on_open() {
        let db = Db::open_vfs(MemVfs::new(), Options::default()).unwrap();
        let spaces = Spaces::new(db);
        let mut b = Batch::new();
        b.put(Space::Data, &data_key(0, b"live"), b"1");
        // A half-written generation and snapshot of an install that never switched.
        b.put(Space::Data, &data_key(1, b"half"), b"2");
        b.put(Space::Snapshot, &chunk_key(7, 0), b"chunk");
        spaces.write(b, true).unwrap();
        let sm = StateMachine::open(spaces.clone()).unwrap();
        assert_eq!(
            sm.reader().entries().unwrap(),
            vec![(b"live".to_vec(), b"1".to_vec())]
        );
        let left: Vec<_> = spaces
            .scan(Space::Data, Bound::Unbounded, Bound::Unbounded)
            .chain(spaces.scan(Space::Snapshot, Bound::Unbounded, Bound::Unbounded))
            .collect();
        assert_eq!(left.len(), 1);
    }
}
