//! openraft's own storage test suite (`openraft::testing::Suite`, the one it ships for
//! adapters) against the Cairn log store and state machine, on real files.

use cairn::{Db, Options};
use cairn_raft::{LogStore, StateMachine, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_with(dir.path(), Options::default()).expect("open db");
        let (log, sm) = cairn_raft::open(db).expect("open stores");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(OnDisk) {
        panic!("openraft's storage suite failed: {e}");
    }
}
