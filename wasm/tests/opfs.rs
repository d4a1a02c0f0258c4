//! OPFS Vfs tests; they run in a dedicated worker of headless Chromium
//! (`.ci/test-browser.sh`, or `cargo test -p cairn-wasm --target wasm32-unknown-unknown`).
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
// Tests may unwrap (the workspace denies it in library code only).
#![allow(clippy::unwrap_used)]

use cairn_vfs::{ErrorKind, File, Vfs};
use cairn_wasm::{OpfsErrorKind, OpfsVfs, HEADER_LEN};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemReadWriteOptions,
    FileSystemSyncAccessHandle, WorkerGlobalScope,
};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Removes the test directory (before, so that an aborted earlier run does not matter, and
/// after, so that reruns start empty).
async fn clean(dir: &str) {
    OpfsVfs::destroy(dir).await.expect("destroy test directory");
}

async fn dir_handle(dir: &str) -> FileSystemDirectoryHandle {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let root = JsFuture::from(scope.navigator().storage().get_directory())
        .await
        .unwrap();
    let root: FileSystemDirectoryHandle = root.unchecked_into();
    JsFuture::from(root.get_directory_handle(dir))
        .await
        .unwrap()
        .unchecked_into()
}

/// Opens a raw sync handle on a pool file (the Vfs must not be mounted).
async fn raw_handle(dir: &str, file: &str) -> FileSystemSyncAccessHandle {
    let d = dir_handle(dir).await;
    let f: FileSystemFileHandle = JsFuture::from(d.get_file_handle(file))
        .await
        .unwrap()
        .unchecked_into();
    JsFuture::from(f.create_sync_access_handle())
        .await
        .unwrap()
        .unchecked_into()
}

fn at(offset: f64) -> FileSystemReadWriteOptions {
    let o = FileSystemReadWriteOptions::new();
    o.set_at(offset);
    o
}

#[wasm_bindgen_test]
async fn conformance_suite_passes() {
    let dir = "cairn-test-conformance";
    clean(dir).await;
    let vfs = OpfsVfs::mount(dir, 4).await.unwrap();
    assert_eq!(cairn_vfs::conformance::run(&vfs), Ok(6));
    drop(vfs);
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn selftest_export_works() {
    let dir = "cairn-test-selftest";
    clean(dir).await;
    let n = cairn_wasm::opfs_selftest(dir.to_string()).await.unwrap();
    assert_eq!(n, 6);
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn data_survives_remount() {
    let dir = "cairn-test-remount";
    clean(dir).await;
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 253) as u8).collect();
    {
        // 5 logical files are created in all (one is removed again).
        let vfs = OpfsVfs::mount(dir, 5).await.unwrap();
        let a = vfs.create("000001.sst").unwrap();
        a.write_at(0, &payload).unwrap();
        a.sync().unwrap();
        let b = vfs.create("MANIFEST-000002").unwrap();
        b.write_at(10, b"manifest").unwrap();
        b.sync().unwrap();
        let c = vfs.create("gone.tmp").unwrap();
        c.write_at(0, b"zzz").unwrap();
        drop(c);
        vfs.remove("gone.tmp").unwrap();
        cairn_vfs::current::create(&vfs, 2).unwrap();
        // Drop every handle: the mount ends and the OPFS handles close.
        drop((a, b, vfs));
    }
    let vfs = OpfsVfs::mount(dir, 0).await.unwrap();
    let mut names = vfs.list().unwrap();
    names.sort();
    assert_eq!(
        names,
        ["000001.sst", "CURRENT-A", "CURRENT-B", "MANIFEST-000002"]
    );
    let a = vfs.open("000001.sst").unwrap();
    assert_eq!(a.read_all().unwrap(), payload);
    let b = vfs.open("MANIFEST-000002").unwrap();
    let mut m = vec![0u8; 18];
    b.read_exact_at(0, &mut m).unwrap();
    assert_eq!(&m[..10], &[0u8; 10]);
    assert_eq!(&m[10..], b"manifest");
    assert_eq!(cairn_vfs::current::read(&vfs).unwrap().manifest, 2);
    // The removed file's pool file is free again.
    assert_eq!(vfs.free_count(), 1);
    assert_eq!(vfs.file_count(), 4);
    assert!(!vfs.exists("gone.tmp").unwrap());
    drop((a, b, vfs));
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn removed_file_stays_usable_while_open() {
    let dir = "cairn-test-unlinked";
    clean(dir).await;
    let vfs = OpfsVfs::mount(dir, 1).await.unwrap();
    let f = vfs.create("a.log").unwrap();
    f.write_at(0, b"still here").unwrap();
    vfs.remove("a.log").unwrap();
    assert!(!vfs.exists("a.log").unwrap());
    // The pool file is not reused while the handle lives.
    assert_eq!(vfs.free_count(), 0);
    assert_eq!(f.read_all().unwrap(), b"still here");
    drop(f);
    assert_eq!(vfs.free_count(), 1);
    let g = vfs.create("b.log").unwrap();
    assert_eq!(g.len().unwrap(), 0, "a reused pool file starts empty");
    drop((g, vfs));
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn header_corruption_is_detected_at_mount() {
    let dir = "cairn-test-corrupt";
    clean(dir).await;
    {
        let vfs = OpfsVfs::mount(dir, 2).await.unwrap();
        let f = vfs.create("000007.wal").unwrap();
        f.write_at(0, b"log").unwrap();
        f.sync().unwrap();
    }
    // Find the pool file holding it: the first one (pool files are taken from the end of
    // the free list, so look at both).
    let mut damaged = None;
    for name in ["p-0000", "p-0001"] {
        let h = raw_handle(dir, name).await;
        let size = h.get_size().unwrap();
        if size >= HEADER_LEN as f64 {
            // Flip one bit in the stored name (offset 16): the CRC no longer matches.
            let mut b = [0u8; 1];
            h.read_with_u8_array_and_options(&mut b, &at(16.0)).unwrap();
            b[0] ^= 0x01;
            h.write_with_u8_array_and_options(&b, &at(16.0)).unwrap();
            h.flush().unwrap();
            damaged = Some(name);
        }
        h.close();
    }
    let damaged = damaged.expect("a used pool file");
    let err = OpfsVfs::mount(dir, 0).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::CorruptHeader, "{err}");
    assert_eq!(err.file(), Some(damaged));
    assert!(err.message().contains("CRC"), "{err}");

    // An unknown format version is its own error.
    let h = raw_handle(dir, damaged).await;
    let mut b = [0u8; 1];
    h.read_with_u8_array_and_options(&mut b, &at(16.0)).unwrap();
    b[0] ^= 0x01; // undo the damage
    h.write_with_u8_array_and_options(&b, &at(16.0)).unwrap();
    h.write_with_u8_array_and_options(&[9u8, 0], &at(8.0))
        .unwrap();
    h.flush().unwrap();
    h.close();
    let err = OpfsVfs::mount(dir, 0).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::UnsupportedVersion, "{err}");

    // A failed mount releases its handles: the directory can be removed.
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn pool_exhaustion_gives_no_space_then_reserve_fixes_it() {
    let dir = "cairn-test-exhaust";
    clean(dir).await;
    let vfs = OpfsVfs::mount(dir, 2).await.unwrap();
    assert_eq!(vfs.free_count(), 2);
    assert!(!vfs.needs_reserve());
    let a = vfs.create("a").unwrap();
    assert!(vfs.needs_reserve());
    let b = vfs.create("b").unwrap();
    let err = vfs.create("c").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    assert!(err.context().contains("reserve"), "{err}");
    assert!(!vfs.exists("c").unwrap());
    assert_eq!(vfs.reserve(3).await.unwrap(), 3);
    assert_eq!(vfs.reserve(3).await.unwrap(), 0, "reserve is idempotent");
    let c = vfs.create("c").unwrap();
    c.write_at(0, b"ok").unwrap();
    assert_eq!(vfs.free_count(), 2);
    assert!(vfs.needs_reserve() == (vfs.free_count() < vfs.low_water()));
    vfs.set_low_water(5);
    assert_eq!(vfs.replenish().await.unwrap(), 3);
    assert!(!vfs.needs_reserve());
    drop((a, b, c, vfs));
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn second_mount_is_locked() {
    let dir = "cairn-test-locked";
    clean(dir).await;
    let first = OpfsVfs::mount(dir, 2).await.unwrap();
    let f = first.create("x").unwrap();
    let err = OpfsVfs::mount(dir, 2).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::Locked, "{err}");
    // Removing a mounted database is refused as well.
    let err = OpfsVfs::destroy(dir).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::Locked, "{err}");
    // Within one mount, Vfs::lock is exclusive.
    let g = first.lock().unwrap();
    assert_eq!(first.lock().unwrap_err().kind(), ErrorKind::Locked);
    drop(g);
    // Once every handle is gone, the directory mounts again.
    drop((f, first));
    let again = OpfsVfs::mount(dir, 0).await.unwrap();
    assert!(again.exists("x").unwrap());
    drop(again);
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn bad_directory_name_is_rejected() {
    let err = OpfsVfs::mount("../up", 0).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::Unavailable);
}

#[wasm_bindgen_test]
async fn duplicate_logical_name_is_detected_at_mount() {
    let dir = "cairn-test-duplicate";
    clean(dir).await;
    {
        let vfs = OpfsVfs::mount(dir, 2).await.unwrap();
        vfs.create("000009.sst").unwrap();
        assert_eq!(vfs.free_count(), 1);
    }
    // Copy the used pool file's header over the free one.
    let (a, b) = (
        raw_handle(dir, "p-0000").await,
        raw_handle(dir, "p-0001").await,
    );
    let (used, free) = if a.get_size().unwrap() > 0.0 {
        (a, b)
    } else {
        (b, a)
    };
    let mut header = vec![0u8; HEADER_LEN as usize];
    used.read_with_u8_array_and_options(&mut header, &at(0.0))
        .unwrap();
    free.write_with_u8_array_and_options(&header, &at(0.0))
        .unwrap();
    free.flush().unwrap();
    used.close();
    free.close();
    let err = OpfsVfs::mount(dir, 0).await.unwrap_err();
    assert_eq!(err.kind(), OpfsErrorKind::DuplicateName, "{err}");
    clean(dir).await;
}

#[wasm_bindgen_test]
async fn open_file_outlives_the_vfs() {
    let dir = "cairn-test-outlive";
    clean(dir).await;
    let vfs = OpfsVfs::mount(dir, 1).await.unwrap();
    let f = vfs.create("keep").unwrap();
    drop(vfs);
    f.write_at(0, b"abc").unwrap();
    f.truncate(2).unwrap();
    assert_eq!(f.read_all().unwrap(), b"ab");
    f.sync().unwrap();
    // The file's handle still locks its pool file.
    assert_eq!(
        OpfsVfs::mount(dir, 0).await.unwrap_err().kind(),
        OpfsErrorKind::Locked
    );
    drop(f);
    let vfs = OpfsVfs::mount(dir, 0).await.unwrap();
    assert_eq!(vfs.open("keep").unwrap().read_all().unwrap(), b"ab");
    drop(vfs);
    clean(dir).await;
}
