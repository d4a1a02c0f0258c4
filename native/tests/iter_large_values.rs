//! Iterators page through the database; a page cut short by the page byte budget (large
//! values) must not be taken for the end of the range.

mod wasi_support;

use cairn::{Db, WriteOptions};

#[test]
fn iteration_over_large_values_sees_every_entry_both_ways() {
    let dir = wasi_support::TestDir::new("iter-large-values");
    let db = Db::open(dir.path()).expect("open");
    let v = vec![7u8; 4096];
    for i in 0..1000u32 {
        db.put_with(i.to_be_bytes(), &v, WriteOptions::NO_SYNC)
            .expect("put");
    }
    assert_eq!(db.iter().count(), 1000);
    assert_eq!(db.iter().rev().count(), 1000);
    let keys: Vec<Vec<u8>> = db
        .range(&5u32.to_be_bytes()[..]..)
        .map(|e| e.expect("entry").0)
        .collect();
    assert_eq!(keys.len(), 995);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    // Both ends at once meet in the middle exactly once.
    let mut it = db.iter();
    let (mut n, mut front) = (0, true);
    loop {
        let e = if front { it.next() } else { it.next_back() };
        match e {
            Some(e) => {
                e.expect("entry");
                n += 1;
            }
            None => break,
        }
        front = !front;
    }
    assert_eq!(n, 1000);
    db.close().expect("close");
}
