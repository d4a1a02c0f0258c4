//! The adapter's own guarantees beyond openraft's suite: durability across reopen and crash,
//! atomic snapshot installation, typed errors for bad input.

use cairn::{Db, MemVfs, Options, Vfs};
use cairn_raft::{Entry, Error, LogStore, Op, Request, Response, StateMachine};
use cairn_vfs::fault::{CrashMode, FaultVfs};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{
    BasicNode, CommittedLeaderId, EntryPayload, LogId, Membership, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StoredMembership, Vote,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn put(term: u64, index: u64, key: &str, value: &str) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request {
            ops: vec![Op::Put {
                key: key.into(),
                value: value.into(),
            }],
        }),
    }
}

fn membership(term: u64, index: u64) -> Entry {
    let nodes: BTreeMap<u64, BasicNode> = (1..=3)
        .map(|i| (i, BasicNode::new(format!("127.0.0.1:{i}"))))
        .collect();
    let ids: BTreeSet<u64> = nodes.keys().copied().collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![ids], nodes)),
    }
}

// Options is becoming #[non_exhaustive]: fields are set after `default()`.
#[allow(clippy::field_reassign_with_default)]
fn open_mem<V: Vfs + Clone>(vfs: V) -> (LogStore<V>, StateMachine<V>) {
    let mut o = Options::default();
    o.background_threads = 0;
    let db = Db::open_vfs(vfs, o).expect("open db");
    cairn_raft::open(db).expect("open stores")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[test]
fn log_vote_and_applied_state_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        {
            let (mut log, mut sm) = cairn_raft::open_path(dir.path()).unwrap();
            let entries = vec![membership(1, 1), put(1, 2, "a", "1"), put(1, 3, "b", "2")];
            log.blocking_append(entries.clone()).await.unwrap();
            log.save_vote(&Vote::new(1, 1)).await.unwrap();
            log.save_committed(Some(log_id(1, 3))).await.unwrap();
            let r = sm.apply(entries).await.unwrap();
            assert_eq!(
                r[1],
                Response {
                    results: vec![true]
                }
            );
            sm.reader().db().close().unwrap();
        }
        let (mut log, mut sm) = cairn_raft::open_path(dir.path()).unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(1, 3)));
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 3)));
        let (applied, m) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(1, 3)));
        assert_eq!(m.log_id(), &Some(log_id(1, 1)));
        assert_eq!(sm.reader().get(b"b").unwrap(), Some(b"2".to_vec()));

        log.purge(log_id(1, 2)).await.unwrap();
        log.truncate(log_id(1, 3)).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        assert_eq!(state.last_log_id, Some(log_id(1, 2)));
        assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
    });
}

/// A synced append is durable the moment openraft's callback fires; an unsynced apply may be
/// lost in a power cut, but never half of it.
#[test]
fn appends_survive_power_loss_and_applies_stay_atomic() {
    let fault = FaultVfs::new(MemVfs::new());
    rt().block_on(async {
        {
            let (mut log, mut sm) = open_mem(fault.clone());
            let mut entries = vec![membership(1, 1)];
            for i in 2..=50 {
                entries.push(Entry {
                    log_id: log_id(1, i),
                    payload: EntryPayload::Normal(Request {
                        ops: vec![
                            Op::Put {
                                key: b"x".to_vec(),
                                value: i.to_string().into_bytes(),
                            },
                            Op::Put {
                                key: b"y".to_vec(),
                                value: i.to_string().into_bytes(),
                            },
                        ],
                    }),
                });
            }
            log.blocking_append(entries.clone()).await.unwrap();
            for e in entries {
                sm.apply([e]).await.unwrap();
            }
        }
        fault.crash(CrashMode::DropUnsyncedAndDirOps);
        let (mut log, mut sm) = open_mem(fault.clone());
        assert_eq!(
            log.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 50))
        );
        assert_eq!(log.try_get_log_entries(1..=50).await.unwrap().len(), 50);
        let (applied, _) = sm.applied_state().await.unwrap();
        let r = sm.reader();
        match applied {
            None => assert_eq!(r.get(b"x").unwrap(), None),
            Some(id) if id.index == 1 => assert_eq!(r.get(b"x").unwrap(), None),
            Some(id) => {
                let v = Some(id.index.to_string().into_bytes());
                assert_eq!(r.get(b"x").unwrap(), v);
                assert_eq!(r.get(b"y").unwrap(), v);
            }
        }
    });
}

#[test]
fn compare_and_set_sees_earlier_ops_of_the_same_apply() {
    rt().block_on(async {
        let (_log, mut sm) = open_mem(MemVfs::new());
        let cas = |index, expected: Option<&str>, new: Option<&str>| Entry {
            log_id: log_id(1, index),
            payload: EntryPayload::Normal(Request {
                ops: vec![Op::Cas {
                    key: b"k".to_vec(),
                    expected: expected.map(Into::into),
                    new: new.map(Into::into),
                }],
            }),
        };
        let r = sm
            .apply([
                cas(1, None, Some("a")),
                cas(2, Some("b"), Some("c")),
                cas(3, Some("a"), Some("b")),
                cas(4, Some("b"), None),
                cas(5, None, Some("z")),
            ])
            .await
            .unwrap();
        let flags: Vec<bool> = r.iter().map(|r| r.results[0]).collect();
        assert_eq!(flags, vec![true, false, true, true, true]);
        assert_eq!(sm.reader().get(b"k").unwrap(), Some(b"z".to_vec()));
        // An operation over the limits is refused deterministically, not fatal.
        let big = Entry {
            log_id: log_id(1, 6),
            payload: EntryPayload::Normal(Request {
                ops: vec![Op::Delete {
                    key: vec![0; cairn_raft::MAX_KEY_LEN + 1],
                }],
            }),
        };
        assert_eq!(sm.apply([big]).await.unwrap()[0].results, vec![false]);
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 6)));
    });
}

#[test]
fn installed_snapshot_replaces_the_state_atomically_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let (_la, mut a) = open_mem(MemVfs::new());
        let mut entries = vec![membership(1, 1)];
        for i in 0..500u64 {
            entries.push(put(1, 2 + i, &format!("key{i:04}"), &format!("v{i}")));
        }
        a.apply(entries).await.unwrap();
        let snap = a
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 501)));
        let want = a.reader().entries().unwrap();
        assert_eq!(want.len(), 500);

        let meta = snap.meta.clone();
        {
            let (_lb, mut b) = cairn_raft::open_path(dir.path()).unwrap();
            b.apply([
                membership(1, 1),
                put(1, 2, "stale", "x"),
                put(1, 3, "key0001", "old"),
            ])
            .await
            .unwrap();
            let mut data = b.begin_receiving_snapshot().await.unwrap();
            *data = Cursor::new(snap.snapshot.into_inner());
            b.install_snapshot(&meta, data).await.unwrap();
            assert_eq!(b.reader().entries().unwrap(), want);
            assert_eq!(b.applied_state().await.unwrap().0, Some(log_id(1, 501)));
            b.reader().db().close().unwrap();
        }
        let (_lb, mut b) = cairn_raft::open_path(dir.path()).unwrap();
        assert_eq!(b.reader().entries().unwrap(), want);
        let current = b.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, meta);
        let (applied, m) = b.applied_state().await.unwrap();
        assert_eq!(applied, meta.last_log_id);
        assert_eq!(m, meta.last_membership);
    });
}

#[test]
fn a_damaged_snapshot_is_a_typed_error_and_changes_nothing() {
    rt().block_on(async {
        let (_l, mut sm) = open_mem(MemVfs::new());
        sm.apply([membership(1, 1), put(1, 2, "a", "1")])
            .await
            .unwrap();
        let mut good = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let mut bytes = std::mem::take(good.snapshot.get_mut());
        let n = bytes.len();
        bytes[n / 2] ^= 0x40;
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(2, 100)),
            last_membership: StoredMembership::default(),
            snapshot_id: "bad".into(),
        };
        let err = sm
            .install_snapshot(&meta, Box::new(Cursor::new(bytes)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 2)));
        assert_eq!(sm.reader().get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            sm.get_current_snapshot().await.unwrap().unwrap().meta,
            good.meta
        );
    });
}

#[test]
fn a_foreign_database_is_refused() {
    let db = Db::open_vfs(MemVfs::new(), Options::default()).unwrap();
    db.put(b"user-key", b"v").unwrap();
    match cairn_raft::open(db) {
        Err(Error::UnsupportedFormat(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a non-raft database was accepted"),
    }
}

#[test]
fn oversized_requests_are_rejected_before_proposing() {
    let r = Request {
        ops: vec![Op::Put {
            key: vec![1; cairn_raft::MAX_KEY_LEN + 1],
            value: vec![],
        }],
    };
    assert!(matches!(r.check(), Err(Error::InvalidRequest(_))));
    let ok = Request {
        ops: vec![Op::Put {
            key: b"k".to_vec(),
            value: vec![0; 1000],
        }],
    };
    assert!(ok.check().is_ok());
}
