//! Cairn's cross-crate durability tests: the crash oracle ([`oracle`]) over a tracing,
//! fault-injecting VFS ([`trace`]), and helpers shared by the integration tests in `tests/`.
//!
//! See `docs/DURABILITY.md` for what these tests prove and how to run them.

pub mod oracle;
pub mod proc_model;
pub mod trace;
