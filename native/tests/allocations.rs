//! A cached point lookup allocates nothing but the value it returns (issue: "cached get
//! allocates nothing but the returned value"). Counted with a global allocator; the test
//! binary runs this one test so no other thread allocates meanwhile.

use cairn::{Db, MemVfs, Options, WriteOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn key(i: u32) -> [u8; 16] {
    let mut k = [b'0'; 16];
    k[..8].copy_from_slice(&u64::from(i.wrapping_mul(2654435761)).to_be_bytes());
    k
}

#[test]
fn cached_gets_allocate_only_the_returned_value() {
    let opts = Options::default().background_threads(0);
    let db = Db::open_vfs(MemVfs::new(), opts).expect("open");
    for i in 0..20_000u32 {
        db.put_with(key(i), [i as u8; 100], WriteOptions::NO_SYNC)
            .expect("put");
    }
    db.flush().expect("flush");
    // Warm the block cache and the table cache.
    for i in 0..20_000u32 {
        assert!(db.get(key(i)).expect("get").is_some());
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut found = 0u64;
    for i in (0..20_000u32).step_by(7) {
        let v = db.get(key(i)).expect("get").expect("present");
        found += u64::from(v.len() == 100);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!("{allocations} allocations for {found} cached gets from a table");
    assert_eq!(
        allocations, found,
        "one allocation (the value) per cached get"
    );
    // Lookups of absent keys (the bloom filter answers) allocate nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 20_000..21_000u32 {
        assert!(db.get(key(i)).expect("get").is_none());
    }
    let absent = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(absent, 0, "absent keys allocate nothing");
}
