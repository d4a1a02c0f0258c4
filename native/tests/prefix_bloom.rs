//! The prefix bloom filter skips tables: a prefix scan over tables whose key ranges all
//! overlap the prefix reads (through the VFS) only the table that holds it, while the same
//! database without prefix filters reads every table. Reads are counted by `FaultVfs`.

use cairn::{Db, MemVfs, Options, WriteOptions};
use cairn_vfs::fault::FaultVfs;

const TABLES: u32 = 6;

fn prefix(t: u32) -> String {
    format!("p{t:03}")
}

/// `TABLES` L0 tables, each holding keys of its own prefix plus a first and a last key shared
/// by every table, so that every table's key range covers every prefix. Returns the VFS read
/// count of a scan of table 3's prefix, and of a prefix held by no table.
fn scan_reads(prefix_len: Option<usize>) -> (u64, u64, usize) {
    let vfs = FaultVfs::new(MemVfs::new());
    let opts = Options::default()
        .background_threads(0)
        .prefix_len(prefix_len)
        .bloom_bits_per_key(10)
        .block_cache_size(0)
        .l0_compaction_trigger(32)
        .l0_slowdown_trigger(32)
        .l0_stop_trigger(64)
        .l0_max_space_percent(0);
    let db = Db::open_vfs(vfs.clone(), opts).expect("open");
    for t in 0..TABLES {
        db.put_with(format!("a-first-{t}"), "x", WriteOptions::NO_SYNC)
            .expect("put");
        for i in 0..200u32 {
            db.put_with(format!("{}-{i:04}", prefix(t)), "v", WriteOptions::NO_SYNC)
                .expect("put");
        }
        db.put_with(format!("z-last-{t}"), "x", WriteOptions::NO_SYNC)
            .expect("put");
        db.flush().expect("flush");
    }
    let l0 = db.tables().iter().filter(|t| t.level == 0).count();
    assert_eq!(l0, TABLES as usize, "every flush left its own table");
    // Open every table once (footers, indexes, filters), so that only the scans count.
    assert_eq!(db.iter().count(), (TABLES * 202) as usize);
    vfs.reset_counters();
    assert_eq!(db.prefix(prefix(3)).count(), 200);
    let hit = vfs.stats().reads;
    vfs.reset_counters();
    assert_eq!(db.prefix("q999").count(), 0);
    let miss = vfs.stats().reads;
    (hit, miss, l0)
}

#[test]
fn a_prefix_scan_reads_only_the_tables_the_prefix_filter_admits() {
    let (with_hit, with_miss, _) = scan_reads(Some(4));
    let (without_hit, without_miss, tables) = scan_reads(None);
    eprintln!(
        "VFS reads for a prefix scan: {with_hit} with prefix filters, {without_hit} without \
         ({tables} tables); absent prefix: {with_miss} with, {without_miss} without"
    );
    // Without prefix filters every table overlapping the prefix is read; with them, only the
    // one table that holds it.
    assert!(
        without_hit >= tables as u64,
        "without filters each of {tables} tables is read: {without_hit}"
    );
    assert!(
        with_hit * 2 <= without_hit,
        "prefix filters skip tables: {with_hit} reads vs {without_hit}"
    );
    assert_eq!(with_miss, 0, "no table admits a prefix it does not hold");
    assert!(
        with_miss < without_miss,
        "a prefix in no table: {with_miss} reads with filters vs {without_miss} without"
    );
}
