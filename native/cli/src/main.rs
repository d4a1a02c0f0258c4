//! `cairn`: the command-line tool for Cairn databases. Reads and writes a database, inspects
//! its files, verifies every checksum, imports/exports a line format, and benchmarks. Builds
//! natively and for WASI (`wasm32-wasip1`), where it runs every command on one thread. See
//! `docs/CLI.md` for the commands, the import/export line format and the exit codes.
//!
//! This is its own crate (`cairn-cli`) so that users of the `cairn` library do not compile
//! the CLI's dependencies (`clap`, `indicatif`). Install it with `cargo install --path native/cli`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bench;
mod codec;
mod error;
mod inspect;
mod ops;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use codec::Format;
use error::{exit, Result};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure (poisoned or closed database, internal error)
  2  bad arguments, or a malformed key, value or import file
  3  no database at the given path (read commands never create one)
  4  the database is locked by another process
  5  corruption (the message names the file and byte offset)
  6  unsupported (older or newer) on-disk format version
  7  I/O error
  8  get: key not found";

/// Inspect, check and use Cairn databases.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// How keys and values are printed: auto = UTF-8 when printable, else 0x-prefixed hex.
    #[arg(long, global = true, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Read KEY, VALUE, --prefix, --from and --to as hex (an optional 0x prefix is allowed).
    #[arg(long, global = true)]
    hex: bool,
    /// Never draw progress bars (they are drawn only when stderr is a terminal anyway).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set KEY to VALUE (creates the database if missing); durable when it returns.
    Put {
        /// Database directory.
        db: PathBuf,
        /// The key.
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Print the value of KEY (exit code 8 if it has none).
    Get {
        /// Database directory.
        db: PathBuf,
        /// The key.
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
    /// Delete KEY (or, with --prefix, every key starting with KEY); durable when it returns.
    Delete {
        /// Database directory.
        db: PathBuf,
        /// The key (with --prefix: the prefix).
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// Delete every key starting with KEY, as one range tombstone.
        #[arg(long)]
        prefix: bool,
    },
    /// Delete every key in [START, END) as one range tombstone; durable when it returns.
    DeleteRange {
        /// Database directory.
        db: PathBuf,
        /// First key deleted.
        #[arg(allow_hyphen_values = true)]
        start: String,
        /// First key after the deleted range (not deleted).
        #[arg(allow_hyphen_values = true)]
        end: String,
    },
    /// Print keys and values (one `KEY<TAB>VALUE` per line) in key order.
    Scan(ScanArgs),
    /// Levels, tables, sizes, amplification estimates and sequence numbers.
    Stats {
        /// Database directory.
        db: PathBuf,
        /// Also scan every live entry to measure exact space amplification.
        #[arg(long)]
        scan: bool,
    },
    /// Print every record of a WAL file (read-only, even with a torn tail).
    DumpWal {
        /// The `.wal` file.
        file: PathBuf,
        /// Print one line per record, not its operations.
        #[arg(long)]
        summary: bool,
    },
    /// Print a table file: footer, properties, bloom filter stats, blocks and entries.
    DumpSst {
        /// The `.sst` file.
        file: PathBuf,
        /// Only the footer, properties and bloom statistics.
        #[arg(long)]
        summary: bool,
        /// Print at most N entries.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Print the current pointer and every edit of the current manifest.
    DumpManifest {
        /// Database directory.
        db: PathBuf,
    },
    /// Check every checksum of every table block and WAL record, changing nothing.
    ///
    /// Runs the recovery that opening the database runs, read-only (so it fails, with the same
    /// error and its exit code, exactly when an open would refuse the database), then reads
    /// every block of every live table (checksums, block encoding, key order, agreement with
    /// the manifest). Reports what recovery drops (a torn WAL tail, with the bytes lost).
    /// Takes no lock and writes nothing. Exit code 5 on corruption, naming the file and byte
    /// offset.
    Verify {
        /// Database directory.
        db: PathBuf,
    },
    /// Compact the whole key range down the levels.
    Compact {
        /// Database directory.
        db: PathBuf,
    },
    /// Copy the database into DEST, a new or empty directory, as a consistent checkpoint that
    /// opens on every target (tables hard-linked when DEST is on the same file system).
    Checkpoint {
        /// Database directory.
        db: PathBuf,
        /// Destination directory (created if missing; must be empty).
        dest: PathBuf,
    },
    /// Load `hex(key)<TAB>hex(value)` lines from FILE (`-` = stdin); creates the database.
    ///
    /// All or nothing against bad input: every line is checked before the database is opened,
    /// so a malformed line (exit 2, naming FILE:LINE) leaves it unchanged and creates nothing.
    Import {
        /// Database directory.
        db: PathBuf,
        /// Input file, or `-` for stdin (read into memory: it cannot be read twice).
        file: PathBuf,
        /// Skip the lines before LINE (1-based): resumes an import whose writing failed at
        /// the line its error names.
        #[arg(long, value_name = "LINE", default_value_t = 1)]
        resume_from: u64,
    },
    /// Write every live entry as `hex(key)<TAB>hex(value)` lines to FILE (`-` = stdout).
    Export {
        /// Database directory.
        db: PathBuf,
        /// Output file, or `-` for stdout.
        file: PathBuf,
    },
    /// Write a backup of the database to FILE (`-` = stdout): one checksummed stream, a
    /// consistent copy that `restore` turns back into a database, natively or under WASI.
    Backup {
        /// Database directory.
        db: PathBuf,
        /// Output file (must not exist), or `-` for stdout.
        file: PathBuf,
    },
    /// Restore the backup in FILE (`-` = stdin) into DB, a new or empty directory.
    Restore {
        /// Backup file, or `-` for stdin.
        file: PathBuf,
        /// Database directory to create (must be missing or empty).
        db: PathBuf,
    },
    /// Quick benchmark: fill, then random reads and a full scan; throughput and latency
    /// percentiles.
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct ScanArgs {
    /// Database directory.
    db: PathBuf,
    /// Only keys starting with P.
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    prefix: Option<String>,
    /// First key (inclusive).
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    from: Option<String>,
    /// End key (exclusive).
    #[arg(long, value_name = "B", allow_hyphen_values = true)]
    to: Option<String>,
    /// Descending key order.
    #[arg(long)]
    reverse: bool,
    /// Print at most N entries.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Print keys only.
    #[arg(long)]
    keys_only: bool,
    /// Print only the number of entries.
    #[arg(long, conflicts_with = "keys_only")]
    count: bool,
}

/// Where `bench` fills keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// Ascending keys.
    Seq,
    /// A random permutation of the keys.
    Random,
}

/// Settings every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Output format of keys and values.
    pub format: Format,
    /// Arguments are hex.
    pub hex: bool,
    /// No progress bars.
    pub quiet: bool,
}

/// Parses the command line, runs the command, and turns the outcome into an exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) if e.is_broken_pipe() => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("cairn: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        format: cli.format,
        hex: cli.hex,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Put { db, key, value } => ops::put(&ctx, &db, &key, &value),
        Command::Get { db, key } => ops::get(&ctx, &db, &key),
        Command::Delete { db, key, prefix } => ops::delete(&ctx, &db, &key, prefix),
        Command::DeleteRange { db, start, end } => ops::delete_range(&ctx, &db, &start, &end),
        Command::Scan(a) => ops::scan(
            &ctx,
            &ops::ScanSpec {
                db: a.db,
                prefix: a.prefix,
                from: a.from,
                to: a.to,
                reverse: a.reverse,
                limit: a.limit,
                keys_only: a.keys_only,
                count: a.count,
            },
        ),
        Command::Stats { db, scan } => ops::stats(&ctx, &db, scan),
        Command::DumpWal { file, summary } => inspect::dump_wal(&ctx, &file, summary),
        Command::DumpSst {
            file,
            summary,
            limit,
        } => inspect::dump_sst(&ctx, &file, summary, limit),
        Command::DumpManifest { db } => inspect::dump_manifest(&ctx, &db),
        Command::Verify { db } => inspect::verify(&ctx, &db),
        Command::Compact { db } => ops::compact(&ctx, &db),
        Command::Checkpoint { db, dest } => ops::checkpoint(&db, &dest),
        Command::Import {
            db,
            file,
            resume_from,
        } => ops::import(&ctx, &db, &file, resume_from),
        Command::Export { db, file } => ops::export(&ctx, &db, &file),
        Command::Backup { db, file } => ops::backup(&db, &file),
        Command::Restore { file, db } => ops::restore(&file, &db),
        Command::Bench(args) => bench::run(&ctx, &args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_code_table_matches_the_constants() {
        for (code, word) in [
            (exit::OK, "success"),
            (exit::OTHER, "other failure"),
            (exit::USAGE, "bad arguments"),
            (exit::NO_DATABASE, "no database"),
            (exit::LOCKED, "locked"),
            (exit::CORRUPTION, "corruption"),
            (exit::UNSUPPORTED_FORMAT, "unsupported"),
            (exit::IO, "I/O error"),
            (exit::KEY_NOT_FOUND, "key not found"),
        ] {
            let line = format!("  {code}  ");
            let found = EXIT_CODES
                .lines()
                .any(|l| l.starts_with(&line) && l.contains(word));
            assert!(
                found,
                "exit code {code} ({word}) missing from the help text"
            );
        }
    }
}
