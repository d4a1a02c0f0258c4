//! Cairn in the browser.
//!
//! [`OpfsVfs`] implements [`cairn_vfs::Vfs`] on the Origin Private File System (OPFS) with the
//! SQLite `opfs-sahpool` pattern: one asynchronous [`OpfsVfs::mount`] opens a
//! `FileSystemSyncAccessHandle` on every file of a pool directory, and from then on every Vfs
//! operation is synchronous. It runs only inside a dedicated Web Worker (the only place sync
//! access handles exist) and needs no `SharedArrayBuffer` and no COOP/COEP headers.
//!
//! The crate compiles on every target so that `cargo build --workspace` keeps working (natively
//! and for WASI), but the OPFS code ([`opfs`]) only exists on `wasm32-unknown-unknown`; the
//! pool header codec ([`header`]) is plain Rust and is unit-tested natively.
//!
//! [`bindings`] is the wasm-bindgen surface of the npm package `cairn-db` (`wasm/js/`): the
//! `CairnDb` class over `Db<OpfsVfs>` in a dedicated worker, or over an in-memory Vfs in Node.
//! [`host::HostVfs`] is the Vfs of the package outside browsers: real files through a JS host
//! object (`wasm/js/node.js`, over `node:fs`).
//! [`opfs_selftest`] runs the Vfs conformance suite on OPFS (for smoke tests).
// In the browser build the crate is `no_std` (alloc only), so that the shipped module links no
// std: its panic machinery (the default hook, message formatting, every panic site's location
// string) is then left out, and `wasm/bundle` (the cdylib of the npm package) gives a panic
// handler that only traps, as std's `panic = "abort"` ends up doing on this target anyway.
// Native builds (the pool header codec and its tests) and test builds keep std.
#![cfg_attr(all(target_arch = "wasm32", target_os = "unknown", not(test)), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate docs link to items that exist only on wasm32-unknown-unknown.
#![cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(rustdoc::broken_intra_doc_links)
)]

// Threads on wasm need shared memory, i.e. `+atomics` (on nightly with build-std; stable rustc
// does not even expose the cfg, and then neither std nor wasm-bindgen can start a thread).
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!(
    "cairn-wasm assumes a single-threaded wasm32 target: OpfsVfs holds JS handles that are \
     neither Send nor Sync and marks them so only because without the `atomics` target \
     feature no second thread can exist. Build without `-C target-feature=+atomics`."
);

extern crate alloc;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod bindings;
pub mod header;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod host;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod opfs;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use bindings::CairnDb;
pub use header::HEADER_LEN;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use opfs::{OpfsError, OpfsErrorKind, OpfsFile, OpfsVfs};

/// Mounts the pool directory `dir_name`, runs the Vfs conformance suite on it, unmounts it and
/// returns the number of checks passed. For smoke tests; must run in a dedicated worker. The
/// directory should hold no database (the suite needs an empty one). Not exported to JS: the
/// conformance suite would add ~15 KiB to the npm package's wasm.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub async fn opfs_selftest(dir_name: alloc::string::String) -> Result<u32, wasm_bindgen::JsValue> {
    let vfs = OpfsVfs::mount(&dir_name, 4).await?;
    let passed = cairn_vfs::conformance::run(&vfs)
        .map_err(|e| wasm_bindgen::JsValue::from(js_sys::Error::new(&e)))?;
    u32::try_from(passed).map_err(|_| wasm_bindgen::JsValue::from_str("too many checks"))
}
