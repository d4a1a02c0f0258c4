//! # cairn-raft
//!
//! Cairn as the log store and the state machine of [openraft](https://docs.rs/openraft/0.9)
//! (pinned to 0.9.25, the newest stable release).
//!
//! One Cairn database per node holds everything, under disjoint key spaces (see
//! `docs/FORMAT-raft.md`):
//!
//! - [`LogStore`] implements [`openraft::storage::RaftLogStorage`]: every `append` of a batch
//!   of entries is **one synced Cairn write batch**, durable before openraft's callback is
//!   called; the vote, truncation and purge are synced too. The committed log id is written
//!   unsynced (openraft treats it as optional; a later synced write covers it).
//! - [`StateMachine`] implements [`openraft::storage::RaftStateMachine`] for a replicated
//!   key-value map ([`Request`] / [`Response`]): each `apply` call is one write batch holding
//!   the data, the last applied log id and the membership, so they are always consistent.
//!   Applies are unsynced: a crash may lose a suffix of them, and openraft re-applies those
//!   entries from the (synced) log on restart. Snapshots are built from a Cairn snapshot (one
//!   consistent read point), stored in the database, and installed atomically: the new data is
//!   written under a fresh *generation* and one synced batch switches to it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (log, sm) = cairn_raft::open_path("/tmp/node-1")?;
//! let reader = sm.reader(); // reads the applied state (after Raft::ensure_linearizable)
//! let config = std::sync::Arc::new(openraft::Config::default().validate()?);
//! // Then: openraft::Raft::<cairn_raft::TypeConfig>::new(1, config, network, log, sm).await?
//! // with a RaftNetworkFactory of your transport (examples/kvcluster has an HTTP one).
//! # let _ = (log, sm, reader, config);
//! # Ok(()) }
//! ```

mod blob;
mod error;
mod keyspace;
mod log_store;
mod state_machine;

pub use error::Error;
pub use log_store::LogStore;
pub use state_machine::{KeyValue, KvReader, SnapshotBuilder, StateMachine};

use cairn::{Db, Options, Vfs};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::Path;

/// Node ids of the cluster.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of the Cairn-backed key-value state machine.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log entry of this type configuration.
pub type Entry = openraft::Entry<TypeConfig>;

/// Longest user key the state machine accepts (Cairn's limit less the key-space prefix).
pub const MAX_KEY_LEN: usize = 32 << 10;
/// Largest value the state machine accepts. A whole request must also fit in one log entry.
pub const MAX_VALUE_LEN: usize = 16 << 20;

/// One operation on the replicated map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Sets `key` to `new` (`None` deletes it) only if its current value is `expected`
    /// (`None`: absent).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value the key must have.
        expected: Option<Vec<u8>>,
        /// The value to set if it has.
        new: Option<Vec<u8>>,
    },
}

impl Op {
    fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Cas { key, .. } => key,
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.key().len() > MAX_KEY_LEN {
            return Err(Error::InvalidRequest(format!(
                "key of {} bytes exceeds {MAX_KEY_LEN}",
                self.key().len()
            )));
        }
        let values: [Option<&Vec<u8>>; 2] = match self {
            Op::Put { value, .. } => [Some(value), None],
            Op::Delete { .. } => [None, None],
            Op::Cas { expected, new, .. } => [expected.as_ref(), new.as_ref()],
        };
        for v in values.into_iter().flatten() {
            if v.len() > MAX_VALUE_LEN {
                return Err(Error::InvalidRequest(format!(
                    "value of {} bytes exceeds {MAX_VALUE_LEN}",
                    v.len()
                )));
            }
        }
        Ok(())
    }
}

/// A client request: operations applied atomically and in order, as one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Request {
    /// The operations.
    pub ops: Vec<Op>,
}

impl Request {
    /// Checks the request against the state machine's limits. A service should reject a
    /// request that fails this before proposing it; the state machine itself answers `false`
    /// for an operation over the limits (on every node alike) instead of failing.
    pub fn check(&self) -> Result<(), Error> {
        let mut total = 0usize;
        for op in &self.ops {
            op.check()?;
            total = total
                .saturating_add(op.key().len())
                .saturating_add(match op {
                    Op::Put { value, .. } => value.len(),
                    Op::Delete { .. } => 0,
                    Op::Cas { expected, new, .. } => {
                        expected.as_ref().map_or(0, Vec::len) + new.as_ref().map_or(0, Vec::len)
                    }
                });
        }
        if total > MAX_VALUE_LEN {
            return Err(Error::InvalidRequest(format!(
                "request of {total} bytes exceeds {MAX_VALUE_LEN}"
            )));
        }
        Ok(())
    }
}

/// The answer to a [`Request`]: one flag per operation, `true` for every put and delete and
/// for a compare-and-set that matched, `false` for a compare-and-set that did not or an
/// operation over the limits. Blank and membership entries answer an empty list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// Per-operation outcome.
    pub results: Vec<bool>,
}

/// Opens (or creates) the cairn-raft database in directory `path` with default options.
pub fn open_path(path: impl AsRef<Path>) -> Result<(LogStore, StateMachine), Error> {
    open(Db::open_with(path, Options::default())?)
}

/// Opens the log store and the state machine kept in `db` (a new, empty database becomes a
/// cairn-raft database). Leftovers of an interrupted snapshot installation are removed.
pub fn open<V: Vfs + Clone>(db: Db<V>) -> Result<(LogStore<V>, StateMachine<V>), Error> {
    let spaces = keyspace::Spaces::new(db);
    check_format(&spaces)?;
    let sm = StateMachine::open(spaces.clone())?;
    Ok((LogStore::new(spaces), sm))
}

const FORMAT_KEY: &[u8] = b"version";
const FORMAT_VERSION: &[u8] = b"cairn-raft 1";

fn check_format<V: Vfs + Clone>(spaces: &keyspace::Spaces<V>) -> Result<(), Error> {
    use keyspace::Space;
    match spaces.get(Space::Format, FORMAT_KEY)? {
        Some(v) if v == FORMAT_VERSION => Ok(()),
        Some(v) => Err(Error::UnsupportedFormat(format!(
            "format marker {:?}, this build reads {:?}",
            String::from_utf8_lossy(&v),
            String::from_utf8_lossy(FORMAT_VERSION)
        ))),
        None if spaces.is_empty()? => {
            let mut b = keyspace::Batch::new();
            b.put(Space::Format, FORMAT_KEY, FORMAT_VERSION);
            spaces.write(b, true)?;
            Ok(())
        }
        None => Err(Error::UnsupportedFormat(
            "the database holds keys but no cairn-raft format marker".into(),
        )),
    }
}
