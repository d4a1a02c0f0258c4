//! `cairn`: the command-line tool for Cairn databases (native and WASI).
//!
//! The implementation lives in `native/src/cli/`; see `docs/CLI.md` for the commands, the
//! import/export line format and the exit codes.

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
