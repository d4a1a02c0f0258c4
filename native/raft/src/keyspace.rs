//! Disjoint key spaces inside one Cairn database.
//!
//! Cairn has no keyspaces (column families) yet, so the log, its metadata, the state
//! machine's metadata, the state machine's data and the stored snapshot each live under their
//! own one-byte key prefix. Everything else in the crate goes through this module, so moving to
//! real keyspaces later changes only this file: a [`Space`] becomes a keyspace handle and
//! [`Batch`] a cross-keyspace batch (which the durability contract already promises is
//! atomic).

use cairn::{Db, StdVfs, Vfs, WriteBatch, WriteOptions};
use std::ops::Bound;

/// One of the disjoint key spaces (see `docs/FORMAT-raft.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// The format marker (`version`).
    Format,
    /// Log entries by index (8-byte big-endian).
    Log,
    /// Vote, committed log id, last purged log id.
    LogMeta,
    /// Last applied log id, membership, data generation, current snapshot.
    SmMeta,
    /// State-machine data: 8-byte big-endian generation, then the user key.
    Data,
    /// Chunks of stored snapshots: 8-byte big-endian snapshot number, 4-byte chunk number.
    Snapshot,
}

impl Space {
    const fn tag(self) -> u8 {
        match self {
            Space::Format => b'F',
            Space::Log => b'L',
            Space::LogMeta => b'M',
            Space::SmMeta => b'S',
            Space::Data => b'D',
            Space::Snapshot => b'P',
        }
    }

    fn key(self, suffix: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + suffix.len());
        k.push(self.tag());
        k.extend_from_slice(suffix);
        k
    }

    fn bounds(self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let lo = match lo {
            Bound::Included(s) => Bound::Included(self.key(s)),
            Bound::Excluded(s) => Bound::Excluded(self.key(s)),
            Bound::Unbounded => Bound::Included(vec![self.tag()]),
        };
        let hi = match hi {
            Bound::Included(s) => Bound::Included(self.key(s)),
            Bound::Excluded(s) => Bound::Excluded(self.key(s)),
            // Every tag is below 0xff, so tag + 1 is the first key past the space.
            Bound::Unbounded => Bound::Excluded(vec![self.tag() + 1]),
        };
        (lo, hi)
    }
}

/// A set of writes to any spaces, applied atomically.
#[derive(Default)]
pub(crate) struct Batch {
    inner: WriteBatch,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Batch::default()
    }

    pub(crate) fn put(&mut self, space: Space, suffix: &[u8], value: &[u8]) {
        self.inner.put(space.key(suffix), value);
    }

    pub(crate) fn delete(&mut self, space: Space, suffix: &[u8]) {
        self.inner.delete(space.key(suffix));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Encoded size, to cut long runs of writes into batches of bounded size.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.encoded_len()
    }
}

/// Suffix and value of one entry of a space.
pub(crate) type Item = (Vec<u8>, Vec<u8>);

fn strip(item: cairn::Result<Item>) -> cairn::Result<Item> {
    item.map(|(mut k, v)| {
        k.remove(0);
        (k, v)
    })
}

/// The database, seen as a set of spaces. Clones share the database.
pub(crate) struct Spaces<V: Vfs + Clone = StdVfs> {
    db: Db<V>,
}

impl<V: Vfs + Clone> Clone for Spaces<V> {
    fn clone(&self) -> Self {
        Spaces {
            db: self.db.clone(),
        }
    }
}

impl<V: Vfs + Clone> Spaces<V> {
    pub(crate) fn new(db: Db<V>) -> Self {
        Spaces { db }
    }

    pub(crate) fn db(&self) -> &Db<V> {
        &self.db
    }

    pub(crate) fn get(&self, space: Space, suffix: &[u8]) -> cairn::Result<Option<Vec<u8>>> {
        self.db.get(space.key(suffix))
    }

    /// Entries of `space` whose suffix is within the bounds, ascending (`.rev()` for
    /// descending).
    pub(crate) fn scan(
        &self,
        space: Space,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> impl DoubleEndedIterator<Item = cairn::Result<Item>> {
        self.db.range(space.bounds(lo, hi)).map(strip)
    }

    /// True if no space holds any key (a new database).
    pub(crate) fn is_empty(&self) -> cairn::Result<bool> {
        match self.db.iter().next() {
            None => Ok(true),
            Some(r) => r.map(|_| false),
        }
    }

    pub(crate) fn write(&self, batch: Batch, sync: bool) -> cairn::Result<()> {
        let opts = if sync {
            WriteOptions::SYNC
        } else {
            WriteOptions::NO_SYNC
        };
        self.db.write(batch.inner, opts)
    }

    /// Pins the current state of every space.
    pub(crate) fn snapshot(&self) -> SpacesSnapshot<V> {
        SpacesSnapshot {
            snap: self.db.snapshot(),
        }
    }
}

/// A consistent read view of every space.
pub(crate) struct SpacesSnapshot<V: Vfs + Clone = StdVfs> {
    snap: cairn::Snapshot<V>,
}

impl<V: Vfs + Clone> SpacesSnapshot<V> {
    pub(crate) fn get(&self, space: Space, suffix: &[u8]) -> cairn::Result<Option<Vec<u8>>> {
        self.snap.get(space.key(suffix))
    }

    pub(crate) fn scan(
        &self,
        space: Space,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> impl DoubleEndedIterator<Item = cairn::Result<Item>> {
        self.snap.range(space.bounds(lo, hi)).map(strip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_are_disjoint_and_ordered() {
        let db = Db::open_vfs(cairn::MemVfs::new(), cairn::Options::default()).unwrap();
        let s = Spaces::new(db);
        let mut b = Batch::new();
        for space in [Space::Log, Space::LogMeta, Space::SmMeta, Space::Data] {
            b.put(space, b"a", &[space.tag()]);
            b.put(space, b"b", &[space.tag()]);
        }
        b.put(Space::Log, &[0xff, 0xff], b"edge");
        s.write(b, true).unwrap();
        let log: Vec<_> = s
            .scan(Space::Log, Bound::Unbounded, Bound::Unbounded)
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(log, vec![b"a".to_vec(), b"b".to_vec(), vec![0xff, 0xff]]);
        let last = s
            .scan(Space::LogMeta, Bound::Unbounded, Bound::Unbounded)
            .next_back()
            .unwrap()
            .unwrap();
        assert_eq!(last, (b"b".to_vec(), vec![b'M']));
        let some: Vec<_> = s
            .scan(Space::Data, Bound::Excluded(b"a"), Bound::Unbounded)
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(some, vec![b"b".to_vec()]);
        assert_eq!(s.get(Space::SmMeta, b"a").unwrap(), Some(vec![b'S']));
        assert_eq!(s.get(Space::Snapshot, b"a").unwrap(), None);
        assert!(!s.is_empty().unwrap());
    }
}
