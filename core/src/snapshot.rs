//! Read points: a [`Snapshot`] pins a sequence number, so reads and iterators at it see exactly
//! the writes committed before it. The engine ([`crate::db::Db::snapshot`]) hands them out and
//! counts them; compaction keeps every version a live snapshot can still see.

use alloc::vec::Vec;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A pinned read point: reads and iterators at a snapshot see exactly the writes committed
/// before it, while writes, flushes and compactions go on. Release it with
/// [`crate::db::Db::release_snapshot`] so compaction can drop the versions it pins.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    seq: u64,
}

impl Snapshot {
    /// The sequence number the snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    /// A snapshot handle for `seq`; only the engine makes them, after counting the pin.
    pub(crate) fn pinned(seq: u64) -> Snapshot {
        Snapshot { seq }
    }
}
