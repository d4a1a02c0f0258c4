//! The wasm module of the npm package `cairn-db`: `wasm/build.sh` builds this crate (profile
//! `wasm-release`) and runs `wasm-bindgen` on `cairn_db.wasm`. The exports are
//! `cairn-wasm`'s (its `#[wasm_bindgen]` items); this crate only links them without std.
//!
//! Why: with std linked, every panic goes through std's panic machinery (the default hook
//! formats the message and the location into a stderr that does not exist on
//! `wasm32-unknown-unknown`, then `panic = "abort"` traps), and that machinery, `core::fmt`'s
//! integer and padding code it reaches and the location of every panic site stay in the
//! module. Here the panic handler traps at once, which is what a page sees either way (a
//! `RuntimeError: unreachable`), and all of that is dead code. See docs/BENCHMARKS.md,
//! "Browser bundle size".
//!
//! Test builds of `cairn-wasm` (wasm-bindgen-test) link std and so std's handler; that is why
//! the handler lives here and not in `cairn-wasm`. On other targets this crate is empty.
#![cfg_attr(all(target_arch = "wasm32", target_os = "unknown"), no_std)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use cairn_wasm;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Traps: the module is single-threaded and `panic = "abort"`, so a panic ends the call with
/// a `RuntimeError` in JS, as it did through std.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
