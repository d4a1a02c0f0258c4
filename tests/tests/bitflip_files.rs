//! Single-bit flips in every kind of file: WAL, SST, manifest and the two current-pointer
//! slots. After each flip the database is reopened (a fresh copy of the files) and read
//! completely (a full scan and a `get` of every key). Each flip must be
//!
//! - detected: a typed `Corruption` or `UnsupportedFormat` error at open or on a read; or
//! - a WAL tail that `TolerateTornTail` recovery legitimately truncates: only after a crash
//!   (never after a clean close, whose close marker makes every flip in the WAL corruption),
//!   only in the records of the newest WAL after the last synced offset a surviving record
//!   reports (here: its last record; every write is synced), the recovered state is a prefix
//!   of the writes, and `AbsoluteConsistency` reports the same flip as corruption; or
//! - harmless by design, with every answer still correct: a flip in a bloom-filter block
//!   (the block fails its checksum and is dropped, lookups go to the data blocks) or in the
//!   stale current-pointer slot (the newer slot wins; the damaged one is reported in
//!   `Recovered::damaged_current_slots`).
//!
//! Anything else — a wrong value, a missing or resurrected key, a panic — fails the test.
//!
//! Every flip is also fed to `Db::verify` (what `cairn verify` runs) before the open, and the
//! two must agree: verify refuses exactly when open refuses, with the same error; when open
//! accepts, verify reports the same recovery (torn tails, replayed WALs, damaged slots,
//! unknown files) and says how many WAL bytes are dropped; verify reports table damage
//! whenever a read fails, and only there or in a filter block.
//! Small files and every WAL are flipped at every bit; large ones at a dense, evenly spread
//! sample. The WAL suite runs on the database as a crash leaves it and as a clean close leaves
//! it, and prints the torn-tail window it measured.

use cairn_core::db::Db;
use cairn_core::table::format::BLOCK_TRAILER_LEN;
use cairn_core::table::format::FOOTER_LEN;
use cairn_core::table::reader::Table;
use cairn_core::table::Footer;
use cairn_core::{wal, Error, Options, RecoveryMode, WriteBatch, WriteOptions};
use cairn_tests::oracle::{batch_of, file_kind_of, matching_prefixes, Model, Write};
use cairn_vfs::{File, MemVfs, Vfs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn opts(mode: RecoveryMode) -> Options {
    Options::default()
        .write_buffer_size(16 << 10)
        .block_size(512)
        .block_cache_size(0)
        .bloom_bits_per_key(10)
        .compression(true)
        .max_manifest_size(1 << 20)
        .target_table_size(8 << 10)
        .base_level_size(32 << 10)
        .level_size_multiplier(4)
        .l0_compaction_trigger(3)
        .num_levels(4)
        .background_threads(0)
        .recovery_mode(mode)
}

struct Fixture {
    files: BTreeMap<String, Vec<u8>>,
    keys: Vec<Vec<u8>>,
    issued: Vec<Write>,
    expected: Model,
}

fn write(
    db: &mut Db<MemVfs>,
    rng: &mut SmallRng,
    keys: &[Vec<u8>],
    n: &mut u64,
    range_deletes: bool,
) -> Write {
    if range_deletes && rng.gen_bool(0.08) {
        // A range delete of up to 12 keys of the key space; the model deletes each.
        let a = rng.gen_range(0..keys.len());
        let c = (a + rng.gen_range(1..=12)).min(keys.len() - 1);
        let mut b = WriteBatch::new();
        b.delete_range(&keys[a], &keys[c]);
        db.write(&b, WriteOptions::SYNC).expect("delete_range");
        return keys[a..c].iter().map(|k| (k.clone(), None)).collect();
    }
    let mut w: Write = Vec::new();
    for _ in 0..rng.gen_range(1..=3) {
        let k = keys[rng.gen_range(0..keys.len())].clone();
        if rng.gen_bool(0.85) {
            *n += 1;
            let mut v = format!("value-{n}-").into_bytes();
            v.resize(v.len() + rng.gen_range(0..120), b'a' + (*n % 26) as u8);
            w.push((k, Some(v)));
        } else {
            w.push((k, None));
        }
    }
    db.write(&batch_of(&w), WriteOptions::SYNC).expect("write");
    w
}

/// A database with tables on two levels, a manifest with several edits, two WALs (the older
/// one frozen, not yet flushed) and both current-pointer slots; dropped as a crash leaves it,
/// or closed cleanly when `clean_close`.
fn fixture_with(clean_close: bool) -> Fixture {
    fixture_of(clean_close, false)
}

/// [`fixture_with`], with about 8% of the writes range deletes when `range_deletes`: then the
/// WALs hold range-delete records and the tables written after the first full compaction hold
/// range-deletion blocks.
fn fixture_of(clean_close: bool, range_deletes: bool) -> Fixture {
    let vfs = MemVfs::new();
    let keys: Vec<Vec<u8>> = (0..150)
        .map(|i| format!("key{i:04}").into_bytes())
        .collect();
    let mut rng = SmallRng::seed_from_u64(7);
    let mut issued = Vec::new();
    let mut n = 0;
    {
        let mut db = Db::open(vfs.clone(), opts(RecoveryMode::TolerateTornTail)).expect("open");
        for _ in 0..400 {
            issued.push(write(&mut db, &mut rng, &keys, &mut n, range_deletes));
        }
        db.compact_range(None, None).expect("compact");
    }
    {
        // Reopen (switches the current pointer), then add edits after the snapshot.
        let mut db = Db::open(vfs.clone(), opts(RecoveryMode::TolerateTornTail)).expect("open");
        for round in 0..2 {
            for _ in 0..120 {
                issued.push(write(&mut db, &mut rng, &keys, &mut n, range_deletes));
            }
            db.flush().expect("flush");
            if round == 0 {
                db.run_all_background_work().expect("bg");
            }
        }
        // Fill one memtable past its size (it is frozen into the older WAL, not flushed),
        // then a few records in the newest WAL.
        let start = db.vfs().list().expect("list").len();
        while db.vfs().list().expect("list").len() == start {
            issued.push(write(&mut db, &mut rng, &keys, &mut n, range_deletes));
        }
        for _ in 0..8 {
            issued.push(write(&mut db, &mut rng, &keys, &mut n, range_deletes));
        }
        if clean_close {
            db.close().expect("close");
        }
    }
    let mut files = BTreeMap::new();
    for name in vfs.list().expect("list") {
        let bytes = vfs.open(&name).expect("open").read_all().expect("read");
        files.insert(name, bytes);
    }
    let mut expected = Model::new();
    for w in &issued {
        for (k, v) in w {
            match v {
                Some(v) => {
                    expected.insert(k.clone(), v.clone());
                }
                None => {
                    expected.remove(k);
                }
            }
        }
    }
    Fixture {
        files,
        keys,
        issued,
        expected,
    }
}

fn fixture() -> Fixture {
    fixture_with(false)
}

/// Where the last record of WAL `bytes` starts: the torn-tail window after a crash when every
/// write was synced (each record reports the one before it as synced).
fn last_record_start(bytes: &[u8]) -> usize {
    let version = wal::decode_header(bytes).expect("header");
    let mut pos = wal::FILE_HEADER_LEN;
    let mut last = pos;
    while pos < bytes.len() {
        let (_, next) = wal::decode_record(bytes, pos, version)
            .expect("valid record")
            .expect("well-formed record");
        last = pos;
        pos = next;
    }
    last
}

fn read_typed(db: &Db<MemVfs>, keys: &[Vec<u8>]) -> Result<Model, Error> {
    let mut m = Model::new();
    for r in db.range((Bound::Unbounded, Bound::Unbounded))? {
        let (k, v) = r?;
        m.insert(k, v);
    }
    for k in keys {
        let got = db.get(k)?;
        if got.as_ref() != m.get(k) {
            // A get that disagrees with the scan is a wrong answer; surface it as such.
            let mut bad = m.clone();
            bad.insert(b"<get disagrees with scan>".to_vec(), k.clone());
            return Ok(bad);
        }
    }
    Ok(m)
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Detected,
    TailTruncated,
    Correct { damaged_slots: u8 },
    Wrong(String),
    Panicked,
}

fn trial(fx: &Fixture, name: &str, bit: usize, mode: RecoveryMode) -> Verdict {
    let vfs = MemVfs::new();
    for (n, bytes) in &fx.files {
        let mut b = bytes.clone();
        if n == name {
            b[bit / 8] ^= 1 << (bit % 8);
        }
        vfs.put_file(n, b);
    }
    // `cairn verify`'s verdict first (it writes nothing), then open's on the same files.
    let verified = catch_unwind(AssertUnwindSafe(|| {
        Db::verify(vfs.clone(), opts(mode), &mut |_| {})
    }));
    let Ok(verified) = verified else {
        return Verdict::Panicked;
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        let db = match Db::open(vfs.clone(), opts(mode)) {
            Ok(db) => db,
            Err(e) => {
                // Open refuses: verify must refuse with the very same error.
                if verified.as_ref().err() != Some(&e) {
                    return Verdict::Wrong(format!(
                        "open refused with {e:?} but verify said {:?}",
                        verified.map(|v| v.problems)
                    ));
                }
                return match e {
                    Error::Corruption { .. } | Error::UnsupportedFormat(_) => Verdict::Detected,
                    e => Verdict::Wrong(format!("open: untyped error {e:?}")),
                };
            }
        };
        let v = match verified {
            Ok(v) => v,
            Err(e) => return Verdict::Wrong(format!("open succeeded but verify refused: {e:?}")),
        };
        // Verify reports what open decided: the same torn tails, replayed WALs, slots, files.
        let mut opened = db.recovery_report().clone();
        opened.removed_files = 0;
        opened.read_only = true;
        if v.recovered != opened {
            return Verdict::Wrong(format!(
                "verify's recovery {:?} differs from open's {opened:?}",
                v.recovered
            ));
        }
        if v.recovered.torn_wal_tail.is_some() != (v.torn_wal_bytes > 0) {
            return Verdict::Wrong(format!(
                "torn tail {:?} but {} torn bytes",
                v.recovered.torn_wal_tail, v.torn_wal_bytes
            ));
        }
        let read = read_typed(&db, &fx.keys);
        // Verify never says OK when a read fails; it finds table damage only where reads
        // fail or in filter blocks (dropped on a checksum failure, harmless to reads).
        let read_failed = read.is_err();
        if read_failed && v.problems.is_empty() {
            return Verdict::Wrong(format!("reads failed with {read:?} but verify said OK"));
        }
        let in_filter = name.ends_with(".sst") && in_filter_block(&fx.files[name], name, bit / 8);
        if !(read_failed || v.problems.is_empty() || in_filter) {
            return Verdict::Wrong(format!(
                "verify found {:?} where every read succeeds",
                v.problems
            ));
        }
        match read {
            Err(Error::Corruption { .. } | Error::UnsupportedFormat(_)) => Verdict::Detected,
            Err(e) => Verdict::Wrong(format!("read: untyped error {e:?}")),
            Ok(state) if state == fx.expected => Verdict::Correct {
                damaged_slots: db.recovery_report().damaged_current_slots,
            },
            Ok(state) => {
                let torn = db.recovery_report().torn_wal_tail.clone();
                let prefixes = matching_prefixes(&Model::new(), &fx.issued, &state);
                if torn.is_some() && !prefixes.is_empty() {
                    Verdict::TailTruncated
                } else {
                    Verdict::Wrong(format!(
                        "silently wrong state (torn WAL tail {torn:?}, matching prefixes {:?} \
                         of {}; {} keys, {} expected)",
                        prefixes,
                        fx.issued.len(),
                        state.len(),
                        fx.expected.len()
                    ))
                }
            }
        }
    }));
    r.unwrap_or(Verdict::Panicked)
}

/// Bits to flip in a file of `len` bytes: all of them up to `all_up_to` bytes, else about
/// `budget` bits spread over the whole file (every byte region, varying bit positions).
fn bits(len: usize, all_up_to: usize, budget: usize) -> Vec<usize> {
    let total = len * 8;
    if len <= all_up_to {
        return (0..total).collect();
    }
    let stride = (total / budget).max(1) | 1; // odd stride: cycles through bit positions
    (0..total).step_by(stride).collect()
}

#[derive(Default, Debug)]
struct Tally {
    tried: u64,
    detected: u64,
    tail_truncated: u64,
    correct: u64,
    failures: Vec<String>,
}

/// True when byte `at` of table `name` lies in its whole-key or prefix filter block
/// (trailer included).
fn in_filter_block(bytes: &[u8], name: &str, at: usize) -> bool {
    let number: u64 = name.trim_end_matches(".sst").parse().expect("table number");
    let off = bytes.len() - FOOTER_LEN;
    let footer = Footer::decode(&bytes[off..], number, off as u64).expect("footer");
    [footer.filter, footer.prefix_filter]
        .into_iter()
        .flatten()
        .any(|h| (h.offset..h.end()).contains(&(at as u64)))
}

fn run_kind(want: &str, all_up_to: usize, budget_per_file: usize) -> Tally {
    run_kind_on(&fixture(), want, all_up_to, budget_per_file, "")
}

fn run_kind_on(
    fx: &Fixture,
    want: &str,
    all_up_to: usize,
    budget_per_file: usize,
    label: &str,
) -> Tally {
    let mut t = Tally::default();
    let names: Vec<String> = fx
        .files
        .keys()
        .filter(|n| file_kind_of(n) == want)
        .cloned()
        .collect();
    assert!(!names.is_empty(), "fixture has no {want} file");
    let newest_wal = fx
        .files
        .keys()
        .filter(|n| n.ends_with(".wal"))
        .max()
        .cloned();
    let clean_close = newest_wal.as_ref().is_some_and(|n| {
        let b = &fx.files[n];
        b.len() >= wal::CLOSE_RECORD_LEN
            && b[b.len() - wal::CLOSE_RECORD_LEN + 8] == wal::RECORD_CLOSE
    });
    // The window in which a flip may be taken for a torn tail: none after a clean close,
    // the last record of the newest WAL after a crash.
    let window = newest_wal
        .as_ref()
        .filter(|_| !clean_close)
        .map(|n| last_record_start(&fx.files[n])..fx.files[n].len());
    for name in &names {
        let len = fx.files[name].len();
        for bit in bits(len, all_up_to, budget_per_file) {
            t.tried += 1;
            let v = trial(fx, name, bit, RecoveryMode::TolerateTornTail);
            let ok = match &v {
                Verdict::Detected => {
                    t.detected += 1;
                    true
                }
                Verdict::TailTruncated => {
                    t.tail_truncated += 1;
                    // Only the window of the newest WAL may lose a tail, and strict mode must
                    // refuse it.
                    Some(name) == newest_wal.as_ref()
                        && window.as_ref().is_some_and(|w| w.contains(&(bit / 8)))
                        && trial(fx, name, bit, RecoveryMode::AbsoluteConsistency)
                            == Verdict::Detected
                }
                Verdict::Correct { damaged_slots } => {
                    t.correct += 1;
                    match want {
                        // The stale slot: the newer one wins, the damage is reported.
                        "current" => *damaged_slots == 1,
                        // Filter blocks (dropped on a checksum failure) are harmless.
                        "sst" => in_filter_block(&fx.files[name], name, bit / 8),
                        _ => false,
                    }
                }
                Verdict::Wrong(_) | Verdict::Panicked => false,
            };
            if !ok && t.failures.len() < 20 {
                t.failures.push(format!(
                    "{name} ({len} bytes) bit {bit} (byte {}): {v:?}",
                    bit / 8
                ));
            }
        }
    }
    if want == "wal" {
        let newest = newest_wal.as_ref().map_or(0, |n| fx.files[n].len());
        match &window {
            Some(w) => eprintln!(
                "wal{label}: torn-tail window = the last record of the newest WAL: {} of its {} \
                 bytes ({} bits)",
                w.len(),
                newest,
                w.len() * 8
            ),
            None => eprintln!("wal{label}: clean close, no torn-tail window"),
        }
    }
    eprintln!(
        "{want}{label}: {} files, {} flips: {} detected, {} WAL tails truncated, {} harmless",
        names.len(),
        t.tried,
        t.detected,
        t.tail_truncated,
        t.correct
    );
    assert!(
        t.failures.is_empty(),
        "{want}: {} bad flips, first ones:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    t
}

#[test]
fn bitflips_in_current_slots() {
    let t = run_kind("current", usize::MAX, 0);
    assert_eq!(t.tried, 2 * 32 * 8);
}

#[test]
fn bitflips_in_manifest() {
    run_kind("manifest", usize::MAX, 0);
}

/// Every bit of both WALs, as a crash leaves them: every flip is detected except in the last
/// record of the newest WAL (the torn-tail window), and every flip there is dropped as a torn
/// tail, reported, and refused by strict mode.
#[test]
fn bitflips_in_wal_after_a_crash() {
    let fx = fixture_with(false);
    let t = run_kind_on(&fx, "wal", usize::MAX, 0, " (crash)");
    let newest = fx
        .files
        .keys()
        .filter(|n| n.ends_with(".wal"))
        .max()
        .expect("wal");
    let window = fx.files[newest].len() - last_record_start(&fx.files[newest]);
    assert_eq!(
        t.tail_truncated,
        window as u64 * 8,
        "every flip in the window is torn"
    );
    assert_eq!(t.detected + t.tail_truncated, t.tried);
}

/// Every bit of both WALs after a clean close: every single flip is `Corruption`.
#[test]
fn bitflips_in_wal_after_a_clean_close() {
    let fx = fixture_with(true);
    let t = run_kind_on(&fx, "wal", usize::MAX, 0, " (clean close)");
    let total: usize = fx
        .files
        .iter()
        .filter(|(n, _)| n.ends_with(".wal"))
        .map(|(_, b)| b.len() * 8)
        .sum();
    assert_eq!((t.tried, t.detected), (total as u64, total as u64));
}

#[test]
fn bitflips_in_sst() {
    run_kind("sst", 512, 1000);
}

/// The range-deletion block of each table of `fx` that has one: (name, first byte, end), the
/// block trailer included.
fn range_del_blocks(fx: &Fixture) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (name, bytes) in &fx.files {
        if file_kind_of(name) != "sst" {
            continue;
        }
        let number: u64 = name.trim_end_matches(".sst").parse().expect("table number");
        let vfs = MemVfs::new();
        vfs.put_file(name, bytes.clone());
        let f = vfs.open(name).expect("open");
        let t = Table::open(f, number, bytes.len() as u64, None).expect("table opens");
        if let Some((offset, size)) = t.properties().range_del_block {
            let start = offset as usize;
            out.push((
                name.clone(),
                start,
                start + size as usize + BLOCK_TRAILER_LEN,
            ));
        }
    }
    out
}

/// Every bit of every range-deletion block: each flip is `Corruption` (a damaged block cannot
/// be dropped like a filter, its tombstones hide data), at open or at the first read.
#[test]
fn bitflips_in_range_tombstone_blocks() {
    let fx = fixture_of(true, true);
    let blocks = range_del_blocks(&fx);
    assert!(
        blocks.len() >= 2,
        "the fixture has range-deletion blocks in at least two tables: {blocks:?}"
    );
    let mut tried = 0u64;
    let mut failures = Vec::new();
    for (name, start, end) in &blocks {
        for bit in start * 8..end * 8 {
            tried += 1;
            let v = trial(&fx, name, bit, RecoveryMode::TolerateTornTail);
            if v != Verdict::Detected && failures.len() < 20 {
                failures.push(format!("{name} bit {bit} (byte {}): {v:?}", bit / 8));
            }
        }
    }
    eprintln!(
        "range-deletion blocks: {} blocks, {} bytes, {tried} flips, {} not detected",
        blocks.len(),
        tried / 8,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "undetected flips:\n{}",
        failures.join("\n")
    );
}

/// The other parts of tables holding range tombstones (sampled) and every bit of WALs holding
/// range-delete records (after a clean close): detected, or harmless in a filter block.
#[test]
fn bitflips_in_files_with_range_deletes() {
    let fx = fixture_of(true, true);
    run_kind_on(&fx, "sst", 512, 600, " (range deletes)");
    let t = run_kind_on(&fx, "wal", usize::MAX, 0, " (range deletes, clean close)");
    assert_eq!(t.detected, t.tried);
}
