//! A counting global allocator (installed by the harness binary) and the measurement of
//! heap allocations per Cairn `put` and per cached `get`.

use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations (and reallocations) while enabled. Disabled,
/// it costs one relaxed load per call.
#[derive(Debug, Default)]
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Counts allocations (count, bytes) made by every thread while `f` runs. Meaningful only
/// when [`CountingAlloc`] is the global allocator.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let a0 = ALLOCS.load(Ordering::SeqCst);
    let b0 = BYTES.load(Ordering::SeqCst);
    ENABLED.store(true, Ordering::SeqCst);
    let r = f();
    ENABLED.store(false, Ordering::SeqCst);
    (
        r,
        ALLOCS.load(Ordering::SeqCst) - a0,
        BYTES.load(Ordering::SeqCst) - b0,
    )
}

/// Heap allocations per operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AllocReport {
    /// Operations counted per figure.
    pub ops: u64,
    /// Allocations per unsynced `put` (memtable not full: no flush in the window).
    pub per_put: f64,
    /// Bytes allocated per `put`.
    pub bytes_per_put: f64,
    /// Allocations per `get` answered by the memtable.
    pub per_get_memtable: f64,
    /// Allocations per `get` answered from a table whose blocks are cached.
    pub per_get_cached: f64,
    /// Bytes allocated per cached `get`.
    pub bytes_per_get_cached: f64,
    /// Allocations per `get` of an absent key (tables only, bloom filter says no).
    pub per_get_missing: f64,
}

/// Measures Cairn's allocations per operation in a database under `dir` (background threads
/// are idle during the counted windows, but their allocations would be counted too).
pub fn measure_cairn(dir: &std::path::Path, ops: u64) -> Result<AllocReport, String> {
    use crate::workload::{key, missing_key, VALUE_LEN};
    use cairn::{Db, WriteOptions};
    let e = |e: cairn::Error| e.to_string();
    let db = Db::open(dir).map_err(e)?;
    let v = [7u8; VALUE_LEN];
    // Warm-up writes (first arena chunks, WAL buffer) outside the window.
    for i in 0..ops {
        db.put_with(key(i), v, WriteOptions::NO_SYNC).map_err(e)?;
    }
    let (r, puts, put_bytes) = count(|| {
        for i in ops..2 * ops {
            db.put_with(key(i), v, WriteOptions::NO_SYNC)?;
        }
        Ok::<(), cairn::Error>(())
    });
    r.map_err(e)?;
    let (r, mem_gets, _) = count(|| {
        for i in 0..ops {
            std::hint::black_box(db.get(key(i))?);
        }
        Ok::<(), cairn::Error>(())
    });
    r.map_err(e)?;
    db.flush().map_err(e)?;
    db.wait_for_background_work().map_err(e)?;
    for i in 0..2 * ops {
        std::hint::black_box(db.get(key(i)).map_err(e)?);
    }
    let (r, gets, get_bytes) = count(|| {
        for i in 0..ops {
            std::hint::black_box(db.get(key(i))?);
        }
        Ok::<(), cairn::Error>(())
    });
    r.map_err(e)?;
    let (r, missing, _) = count(|| {
        for i in 0..ops {
            std::hint::black_box(db.get(missing_key(i))?);
        }
        Ok::<(), cairn::Error>(())
    });
    r.map_err(e)?;
    db.close().map_err(e)?;
    let per = |n: u64| n as f64 / ops as f64;
    Ok(AllocReport {
        ops,
        per_put: per(puts),
        bytes_per_put: per(put_bytes),
        per_get_memtable: per(mem_gets),
        per_get_cached: per(gets),
        bytes_per_get_cached: per(get_bytes),
        per_get_missing: per(missing),
    })
}
