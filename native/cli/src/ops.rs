//! Commands that go through the engine (`cairn::Db`): put, get, delete, scan, stats, compact,
//! import, export.

use super::codec::{hex_decode, hex_encode, human_bytes, parse_arg, show};
use super::error::{CliError, DbContext, IoContext, Result};
use super::progress::{bar, spinner, Unit};
use super::Ctx;
use cairn::{Db, Options, ReadOnlyVfs, StdVfs, Vfs, WriteBatch, WriteOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// A key and its value.
type Entry = (Vec<u8>, Vec<u8>);

/// Opens an existing database (never creates one). `threads`: run flush and compaction on
/// background threads (native only) instead of inline.
pub fn open_existing(path: &Path, threads: bool) -> Result<Db> {
    let opts = Options::default()
        .create_if_missing(false)
        .background_threads(if threads { 2 } else { 0 });
    Db::open_with(path, opts).ctx(|| format!("cannot open {}", path.display()))
}

/// A database opened read-only: no lock, not one byte written, the state as of the open.
type Reader = Db<ReadOnlyVfs<StdVfs>>;

/// Opens an existing database read-only, so the read commands work while a service holds it
/// open for writing and never change it.
pub fn open_reader(path: &Path) -> Result<Reader> {
    Db::open_read_only(path).ctx(|| format!("cannot open {} read-only", path.display()))
}

/// Opens a database, creating it if missing.
pub fn open_or_create(path: &Path, threads: bool) -> Result<Db> {
    let opts = Options::default()
        .create_if_missing(true)
        .background_threads(if threads { 2 } else { 0 });
    Db::open_with(path, opts).ctx(|| format!("cannot open or create {}", path.display()))
}

/// Closes `db`, reporting a failed final sync.
pub fn close<V: Vfs + Clone>(db: &Db<V>, path: &Path) -> Result<()> {
    db.close().ctx(|| format!("closing {}", path.display()))
}

fn stdout_ctx() -> String {
    String::from("writing to stdout")
}

pub fn put(ctx: &Ctx, path: &Path, key: &str, value: &str) -> Result<()> {
    let key = parse_arg(key, ctx.hex, "KEY")?;
    let value = parse_arg(value, ctx.hex, "VALUE")?;
    let db = open_or_create(path, false)?;
    db.put(&key, &value).ctx(|| String::from("put"))?;
    close(&db, path)
}

pub fn get(ctx: &Ctx, path: &Path, key: &str) -> Result<()> {
    let key = parse_arg(key, ctx.hex, "KEY")?;
    let db = open_reader(path)?;
    let value = db.get(&key).ctx(|| String::from("get"))?;
    close(&db, path)?;
    match value {
        Some(v) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", show(&v, ctx.format)).io_ctx(stdout_ctx)
        }
        None => Err(CliError::KeyNotFound),
    }
}

pub fn delete(ctx: &Ctx, path: &Path, key: &str, prefix: bool) -> Result<()> {
    let key = parse_arg(key, ctx.hex, "KEY")?;
    let db = open_existing(path, false)?;
    if prefix {
        db.delete_prefix(&key)
            .ctx(|| String::from("delete --prefix"))?;
    } else {
        db.delete(&key).ctx(|| String::from("delete"))?;
    }
    close(&db, path)
}

/// `delete-range DB START END`: one range tombstone over `[START, END)`.
pub fn delete_range(ctx: &Ctx, path: &Path, start: &str, end: &str) -> Result<()> {
    let start = parse_arg(start, ctx.hex, "START")?;
    let end = parse_arg(end, ctx.hex, "END")?;
    let db = open_existing(path, false)?;
    db.delete_range(&start, &end)
        .ctx(|| String::from("delete-range"))?;
    close(&db, path)
}

/// What `scan` prints.
#[derive(Debug)]
pub struct ScanSpec {
    pub db: PathBuf,
    pub prefix: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reverse: bool,
    pub limit: Option<u64>,
    pub keys_only: bool,
    pub count: bool,
}

/// The key range `[lo, hi)` covering `from`, `to` and `prefix` together.
fn scan_bounds(
    prefix: Option<&[u8]>,
    from: Option<Vec<u8>>,
    to: Option<Vec<u8>>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut lo = from;
    let mut hi = to;
    if let Some(p) = prefix {
        if lo.as_deref().is_none_or(|l| l < p) {
            lo = Some(p.to_vec());
        }
        if let Some(succ) = cairn_core::db::prefix_successor(p) {
            if hi.as_deref().is_none_or(|h| h > succ.as_slice()) {
                hi = Some(succ);
            }
        }
    }
    (
        lo.map_or(Bound::Unbounded, Bound::Included),
        hi.map_or(Bound::Unbounded, Bound::Excluded),
    )
}

pub fn scan(ctx: &Ctx, spec: &ScanSpec) -> Result<()> {
    let prefix = spec
        .prefix
        .as_deref()
        .map(|p| parse_arg(p, ctx.hex, "--prefix"))
        .transpose()?;
    let from = spec
        .from
        .as_deref()
        .map(|p| parse_arg(p, ctx.hex, "--from"))
        .transpose()?;
    let to = spec
        .to
        .as_deref()
        .map(|p| parse_arg(p, ctx.hex, "--to"))
        .transpose()?;
    let db = open_reader(&spec.db)?;
    let iter = match (&prefix, &from, &to) {
        (Some(p), None, None) => db.prefix(p),
        _ => db.range(scan_bounds(prefix.as_deref(), from, to)),
    };
    let iter: Box<dyn Iterator<Item = cairn::Result<Entry>>> = if spec.reverse {
        Box::new(iter.rev())
    } else {
        Box::new(iter)
    };
    let limit = spec.limit.unwrap_or(u64::MAX);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut n = 0u64;
    for entry in iter {
        if n >= limit {
            break;
        }
        let (k, v) = entry.ctx(|| format!("scanning {}", spec.db.display()))?;
        n += 1;
        if spec.count {
            continue;
        }
        if spec.keys_only {
            writeln!(out, "{}", show(&k, ctx.format)).io_ctx(stdout_ctx)?;
        } else {
            writeln!(out, "{}\t{}", show(&k, ctx.format), show(&v, ctx.format))
                .io_ctx(stdout_ctx)?;
        }
    }
    if spec.count {
        writeln!(out, "{n}").io_ctx(stdout_ctx)?;
    }
    out.flush().io_ctx(stdout_ctx)?;
    drop(out);
    close(&db, &spec.db)
}

/// Files in the database directory by kind: (count, bytes).
#[derive(Debug, Default)]
struct DirInventory {
    wal: (u64, u64),
    sst: (u64, u64),
    manifest: (u64, u64),
    other: (u64, u64),
}

fn inventory(path: &Path) -> Result<DirInventory> {
    let mut inv = DirInventory::default();
    let rd = std::fs::read_dir(path).io_ctx(|| format!("listing {}", path.display()))?;
    for entry in rd {
        let entry = entry.io_ctx(|| format!("listing {}", path.display()))?;
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let name = entry.file_name().to_string_lossy().into_owned();
        let slot = if name.ends_with(".wal") {
            &mut inv.wal
        } else if name.ends_with(".sst") {
            &mut inv.sst
        } else if name.starts_with("MANIFEST-") || name.starts_with("CURRENT-") {
            &mut inv.manifest
        } else {
            &mut inv.other
        };
        slot.0 += 1;
        slot.1 += len;
    }
    Ok(inv)
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        String::from("n/a")
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

pub fn stats(ctx: &Ctx, path: &Path, exact: bool) -> Result<()> {
    let db = open_reader(path)?;
    let s = db.stats();
    let v = db.current_version();
    let rec = db.recovery_report();
    let inv = inventory(path)?;
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o, "database      {}", path.display());
    let _ = writeln!(
        o,
        "files         {} tables {}, {} WAL {}, manifest+current {} files {}, other {}",
        inv.sst.0,
        human_bytes(inv.sst.1),
        inv.wal.0,
        human_bytes(inv.wal.1),
        inv.manifest.0,
        human_bytes(inv.manifest.1),
        inv.other.0
    );
    let table_max_seq = v.all_tables().map(|(_, t)| t.max_seq).max().unwrap_or(0);
    let table_min_seq = v.all_tables().map(|(_, t)| t.min_seq).min().unwrap_or(0);
    let _ = writeln!(
        o,
        "sequence      last {} | in tables {}..={} | in memtables (unflushed) {}",
        s.last_sequence,
        table_min_seq,
        table_max_seq,
        s.last_sequence.saturating_sub(table_max_seq)
    );
    let _ = writeln!(
        o,
        "memtables     active {}, frozen {}; recovery replayed {} WAL file(s), {} record(s){}",
        human_bytes(s.memtable_bytes),
        s.immutable_memtables,
        rec.wal_files,
        rec.wal_records,
        rec.torn_wal_tail
            .as_ref()
            .map(|(f, off, why)| format!(", dropped a torn tail of {f} at {off} ({why})"))
            .unwrap_or_default()
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "level  runs  tables        size     entries  tombstones uncompressed       seq range"
    );
    let mut total = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut sorted_runs = 0u64;
    let mut last_level_bytes = 0u64;
    for level in 0..v.num_levels() {
        let tables = v.tables_at(level);
        let runs = if level == 0 {
            v.l0.len() as u64
        } else {
            u64::from(!tables.is_empty())
        };
        sorted_runs += runs;
        let bytes: u64 = tables.iter().map(|t| t.size).sum();
        let entries: u64 = tables.iter().map(|t| t.entries).sum();
        let tombs: u64 = tables.iter().map(|t| t.tombstones).sum();
        let raw: u64 = tables.iter().map(|t| t.raw_bytes).sum();
        if !tables.is_empty() {
            last_level_bytes = bytes;
        }
        total.0 += tables.len() as u64;
        total.1 += bytes;
        total.2 += entries;
        total.3 += tombs;
        total.4 += raw;
        let seqs = if tables.is_empty() {
            String::from("-")
        } else {
            format!(
                "{}..={}",
                tables.iter().map(|t| t.min_seq).min().unwrap_or(0),
                tables.iter().map(|t| t.max_seq).max().unwrap_or(0)
            )
        };
        let _ = writeln!(
            o,
            "L{level:<5}{runs:>5}{:>8}{:>12}{entries:>12}{tombs:>12}{:>12}  {seqs:>15}",
            tables.len(),
            human_bytes(bytes),
            human_bytes(raw)
        );
    }
    let _ = writeln!(
        o,
        "total  {sorted_runs:>5}{:>8}{:>12}{:>12}{:>12}{:>12}",
        total.0,
        human_bytes(total.1),
        total.2,
        total.3,
        human_bytes(total.4)
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "estimates");
    let _ = writeln!(
        o,
        "  space amplification  {} (bytes of all tables / bytes of the last non-empty level)",
        ratio(total.1, last_level_bytes)
    );
    let _ = writeln!(
        o,
        "  read amplification   {sorted_runs} sorted run(s) a point lookup may probe (bloom filters skip most)"
    );
    let _ = writeln!(
        o,
        "  compression          {} (uncompressed internal keys + values / table bytes)",
        ratio(total.4, total.1)
    );
    if total.2 > 0 {
        let _ = writeln!(
            o,
            "  garbage              {:.1}% of table entries are tombstones",
            100.0 * total.3 as f64 / total.2 as f64
        );
    }
    let _ = writeln!(
        o,
        "cache         {} in block cache, {} hits / {} misses since open",
        human_bytes(s.cache_bytes),
        s.cache_hits,
        s.cache_misses
    );
    if exact {
        let pb = bar(total.2, "scanning", Unit::Items, ctx.quiet);
        let (mut live, mut live_bytes) = (0u64, 0u64);
        for entry in db.iter() {
            let (k, val) = entry.ctx(|| String::from("scanning"))?;
            live += 1;
            live_bytes += (k.len() + val.len()) as u64;
            if live.is_multiple_of(4096) {
                pb.set_position(live);
            }
        }
        pb.finish_and_clear();
        let _ = writeln!(o, "exact (--scan)");
        let _ = writeln!(
            o,
            "  live keys            {live} ({} of keys + values)",
            human_bytes(live_bytes)
        );
        let _ = writeln!(
            o,
            "  space amplification  {} table entries per live key",
            ratio(total.2, live)
        );
        let _ = writeln!(
            o,
            "  disk per live byte   {} (table bytes / live key + value bytes)",
            ratio(total.1, live_bytes)
        );
    }
    close(&db, path)?;
    let mut out = std::io::stdout().lock();
    out.write_all(o.as_bytes()).io_ctx(stdout_ctx)
}

pub fn compact(ctx: &Ctx, path: &Path) -> Result<()> {
    let db = open_existing(path, true)?;
    let before = db.stats();
    let pb = spinner("compacting", ctx.quiet);
    let t = std::time::Instant::now();
    let r = db.compact_range(None, None);
    pb.finish_and_clear();
    r.ctx(|| format!("compacting {}", path.display()))?;
    let after = db.stats();
    close(&db, path)?;
    let tables = |s: &cairn::Stats| s.levels.iter().map(|l| l.tables).sum::<u64>();
    println!(
        "compacted in {:.2}s: {} tables ({}) -> {} tables ({})",
        t.elapsed().as_secs_f64(),
        tables(&before),
        human_bytes(before.table_bytes),
        tables(&after),
        human_bytes(after.table_bytes)
    );
    Ok(())
}

/// Takes a checkpoint of `path` into `dest` (the database lock is taken, so no other process
/// may hold it; a service takes checkpoints through `Db::checkpoint` while it runs).
pub fn checkpoint(path: &Path, dest: &Path) -> Result<()> {
    let db = open_existing(path, false)?;
    let t = std::time::Instant::now();
    let r = db.checkpoint(dest);
    let report = r.ctx(|| format!("checkpoint of {} into {}", path.display(), dest.display()))?;
    close(&db, path)?;
    println!(
        "checkpoint in {:.2}s at sequence {}: {} files linked, {} copied ({})",
        t.elapsed().as_secs_f64(),
        report.sequence,
        report.files_linked,
        report.files_copied,
        human_bytes(report.bytes_copied)
    );
    Ok(())
}

/// Writes a backup of `path` to `file` (`-` = stdout; an existing file is never overwritten).
pub fn backup(path: &Path, file: &Path) -> Result<()> {
    let db = open_existing(path, false)?;
    let to_stdout = file.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .io_ctx(|| format!("cannot create {}", file.display()))?,
        )
    };
    let t = std::time::Instant::now();
    let report = db
        .backup(BufWriter::with_capacity(1 << 20, sink))
        .ctx(|| format!("backup of {} to {}", path.display(), file.display()))?;
    close(&db, path)?;
    if !to_stdout {
        println!(
            "backup in {:.2}s at sequence {}: {} files, {}",
            t.elapsed().as_secs_f64(),
            report.sequence,
            report.files,
            human_bytes(report.stream_bytes)
        );
    }
    Ok(())
}

/// Restores the backup in `file` (`-` = stdin) into `path`, which must be missing or empty.
pub fn restore(file: &Path, path: &Path) -> Result<()> {
    let source: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).io_ctx(|| format!("cannot open {}", file.display()))?)
    };
    let t = std::time::Instant::now();
    let report = cairn::restore(std::io::BufReader::with_capacity(1 << 20, source), path)
        .ctx(|| format!("restore of {} into {}", file.display(), path.display()))?;
    println!(
        "restored in {:.2}s: {} files, sequence {}",
        t.elapsed().as_secs_f64(),
        report.files,
        report.sequence
    );
    Ok(())
}

/// The first line `export` writes; `import` skips lines starting with `#`.
pub const EXPORT_HEADER: &str = "# cairn export v1: hex(key)<TAB>hex(value) per line";

/// Parses one import line: `Some((key, value))`, `None` for blank and comment lines.
fn parse_line(line: &str) -> std::result::Result<Option<Entry>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (k, v) = line
        .split_once('\t')
        .ok_or_else(|| String::from("expected hex(key)<TAB>hex(value)"))?;
    let key = hex_decode(k.as_bytes()).ok_or_else(|| String::from("key is not valid hex"))?;
    let value = hex_decode(v.as_bytes()).ok_or_else(|| String::from("value is not valid hex"))?;
    Ok(Some((key, value)))
}

/// Where `import` reads its lines: a regular file is read twice (checked, then written), so
/// memory stays small; anything else (stdin, a pipe) cannot be read twice and is read into
/// memory once.
enum Input {
    File(PathBuf),
    Memory(Vec<u8>),
}

impl Input {
    fn open(file: &Path) -> Result<(Input, u64)> {
        let read_all = |mut r: Box<dyn Read>| -> Result<Vec<u8>> {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf)
                .io_ctx(|| format!("reading {}", file.display()))?;
            Ok(buf)
        };
        if file.as_os_str() == "-" {
            let buf = read_all(Box::new(std::io::stdin().lock()))?;
            let len = buf.len() as u64;
            return Ok((Input::Memory(buf), len));
        }
        let f = std::fs::File::open(file).io_ctx(|| format!("cannot open {}", file.display()))?;
        let meta = f
            .metadata()
            .io_ctx(|| format!("cannot open {}", file.display()))?;
        if meta.is_file() {
            return Ok((Input::File(file.to_path_buf()), meta.len()));
        }
        let buf = read_all(Box::new(f))?;
        let len = buf.len() as u64;
        Ok((Input::Memory(buf), len))
    }

    fn reader(&self) -> Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Input::File(path) => Box::new(BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(path).io_ctx(|| format!("cannot open {}", path.display()))?,
            )),
            Input::Memory(buf) => Box::new(&buf[..]),
        })
    }
}

/// Where the entries of an import file go.
trait Sink {
    /// Takes the entry of line `line`; `read` is the input consumed so far, in bytes.
    fn entry(&mut self, line: u64, entry: Entry, read: u64) -> Result<()>;
}

/// Reads every line of `reader` from line `first` on (1-based; earlier lines are skipped
/// unread), checks it (UTF-8, the line format, the engine's key and value size limits) and
/// hands each entry to `sink`. A bad line is exit 2, `FILE:LINE: reason`. Returns the number
/// of entries.
fn read_entries(
    reader: &mut dyn BufRead,
    shown: &str,
    first: u64,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<u64> {
    let mut buf = Vec::new();
    let (mut line, mut entries, mut read) = (0u64, 0u64, 0u64);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .io_ctx(|| format!("reading {shown}"))?;
        if n == 0 {
            return Ok(entries);
        }
        line += 1;
        read += n as u64;
        if line < first {
            continue;
        }
        let bad = |why: String| CliError::Usage(format!("{shown}:{line}: {why}"));
        let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 ({e})")))?;
        let Some((k, v)) = parse_line(text).map_err(bad)? else {
            continue;
        };
        if k.len() > opts.max_key_size {
            return Err(bad(format!(
                "key of {} bytes, over the limit of {}",
                k.len(),
                opts.max_key_size
            )));
        }
        if v.len() > opts.max_value_size {
            return Err(bad(format!(
                "value of {} bytes, over the limit of {}",
                v.len(),
                opts.max_value_size
            )));
        }
        entries += 1;
        sink.entry(line, (k, v), read)?;
    }
}

/// The checking pass: keeps nothing.
struct Check<'a>(&'a indicatif::ProgressBar);

impl Sink for Check<'_> {
    fn entry(&mut self, _line: u64, _entry: Entry, read: u64) -> Result<()> {
        self.0.set_position(read);
        Ok(())
    }
}

/// The writing pass: unsynced batches of up to 1,024 entries or 1 MiB.
struct Load<'a> {
    db: &'a Db,
    shown: &'a str,
    batch: WriteBatch,
    batch_bytes: usize,
    /// The first line of the batch being built.
    batch_line: u64,
    pb: &'a indicatif::ProgressBar,
}

impl Load<'_> {
    fn commit(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let (shown, line) = (self.shown, self.batch_line);
        self.db.write(b, WriteOptions::NO_SYNC).ctx(|| {
            format!(
                "{shown}:{line}: writing (the lines before {line} were written; fix the cause, \
                 then rerun with --resume-from {line})"
            )
        })
    }
}

impl Sink for Load<'_> {
    fn entry(&mut self, line: u64, (k, v): Entry, read: u64) -> Result<()> {
        if self.batch.is_empty() {
            self.batch_line = line;
        }
        self.batch_bytes += k.len() + v.len();
        self.batch.put(&k, &v);
        if self.batch.len() >= 1024 || self.batch_bytes >= (1 << 20) {
            self.commit()?;
            self.pb.set_position(read);
        }
        Ok(())
    }
}

/// `cairn import`: all or nothing against bad input. Every line is checked before the
/// database is opened (or created), so a bad line anywhere leaves it exactly as it was (and
/// creates nothing); then the entries are written in unsynced batches and synced once.
/// `resume_from` skips the lines before it (to resume an import whose writing failed).
pub fn import(ctx: &Ctx, path: &Path, file: &Path, resume_from: u64) -> Result<()> {
    let shown = file.display().to_string();
    let opts = Options::default();
    let (input, len) = Input::open(file)?;
    let t = std::time::Instant::now();
    let pb = bar(len, "checking", Unit::Bytes, ctx.quiet || len == 0);
    let entries = read_entries(
        &mut *input.reader()?,
        &shown,
        resume_from,
        &opts,
        &mut Check(&pb),
    )?;
    pb.finish_and_clear();

    let db = open_or_create(path, true)?;
    let pb = bar(len, "importing", Unit::Bytes, ctx.quiet || len == 0);
    let mut load = Load {
        db: &db,
        shown: &shown,
        batch: WriteBatch::new(),
        batch_bytes: 0,
        batch_line: resume_from,
        pb: &pb,
    };
    let written = read_entries(&mut *input.reader()?, &shown, resume_from, &opts, &mut load)?;
    load.commit()?;
    if written != entries {
        return Err(CliError::Usage(format!(
            "{shown} changed while importing ({entries} entries checked, {written} written)"
        )));
    }
    db.sync().ctx(|| String::from("syncing"))?;
    pb.finish_and_clear();
    close(&db, path)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "imported {entries} entries ({}) in {secs:.2}s ({:.0} entries/s)",
        human_bytes(len),
        entries as f64 / secs.max(1e-9)
    );
    Ok(())
}

pub fn export(ctx: &Ctx, path: &Path, file: &Path) -> Result<()> {
    let db = open_reader(path)?;
    let estimate: u64 = db
        .current_version()
        .all_tables()
        .map(|(_, t)| t.entries)
        .sum();
    let to_stdout = file.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(file).io_ctx(|| format!("cannot create {}", file.display()))?,
        )
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let what = || format!("writing {}", file.display());
    let pb = bar(estimate, "exporting", Unit::Items, ctx.quiet || to_stdout);
    writeln!(out, "{EXPORT_HEADER}").io_ctx(what)?;
    let mut n = 0u64;
    for entry in db.iter() {
        let (k, v) = entry.ctx(|| format!("reading {}", path.display()))?;
        writeln!(out, "{}\t{}", hex_encode(&k), hex_encode(&v)).io_ctx(what)?;
        n += 1;
        if n.is_multiple_of(4096) {
            pb.set_position(n);
        }
    }
    out.flush().io_ctx(what)?;
    drop(out);
    pb.finish_and_clear();
    close(&db, path)?;
    if !to_stdout {
        println!("exported {n} entries to {}", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_lines_parse_and_reject_garbage() {
        assert_eq!(parse_line("").ok(), Some(None));
        assert_eq!(parse_line(EXPORT_HEADER).ok(), Some(None));
        assert_eq!(
            parse_line("6b\t76\r").ok(),
            Some(Some((b"k".to_vec(), b"v".to_vec())))
        );
        assert_eq!(
            parse_line("6b\t").ok(),
            Some(Some((b"k".to_vec(), Vec::new())))
        );
        assert!(parse_line("6b").is_err());
        assert!(parse_line("6x\t00").is_err());
        assert!(parse_line("6b\t0").is_err());
    }

    /// Collects what `read_entries` hands out.
    struct Collect(Vec<(u64, Entry)>);

    impl Sink for Collect {
        fn entry(&mut self, line: u64, entry: Entry, _read: u64) -> Result<()> {
            self.0.push((line, entry));
            Ok(())
        }
    }

    fn read(input: &[u8], first: u64) -> Result<Vec<(u64, Entry)>> {
        let mut sink = Collect(Vec::new());
        read_entries(&mut &input[..], "-", first, &Options::default(), &mut sink)?;
        Ok(sink.0)
    }

    #[test]
    fn import_reads_every_line_or_names_the_first_bad_one() {
        let good = b"# c\n6b\t76\r\n\n00ff\t\n";
        let got = read(good, 1).expect("good input");
        assert_eq!(
            got,
            vec![
                (2, (b"k".to_vec(), b"v".to_vec())),
                (4, (vec![0, 0xff], Vec::new()))
            ]
        );
        assert_eq!(read(good, 3).expect("resumed").len(), 1);
        // No final newline, CRLF, a lone CR inside a value: only the last is an error.
        assert_eq!(read(b"6b\t76", 1).expect("no newline").len(), 1);
        let e = read(b"6b\t76\n6b\t7\r6\n", 1).expect_err("CR inside");
        assert!(e.to_string().starts_with("-:2:"), "{e}");
        // Pseudo-random garbage (xorshift, fixed seed): never a panic; an error always names
        // a line that exists, and the entries handed out before it are from earlier lines.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"0123456789abcdefABXZ\t\n\r# \xff\xc3";
        for round in 0..3000 {
            let len = (round % 97) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            let lines = input.split(|&b| b == b'\n').count() as u64;
            let mut sink = Collect(Vec::new());
            let r = read_entries(&mut &input[..], "-", 1, &Options::default(), &mut sink);
            if let Err(e) = r {
                let msg = e.to_string();
                let line: u64 = msg
                    .strip_prefix("-:")
                    .and_then(|m| m.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no line number in {msg:?}"));
                assert!((1..=lines).contains(&line), "{msg} of {lines} lines");
                assert!(sink.0.iter().all(|(l, _)| *l < line));
                assert_eq!(e.exit_code(), crate::error::exit::USAGE);
            }
        }
    }

    #[test]
    fn scan_bounds_intersect_prefix_and_range() {
        let (lo, hi) = scan_bounds(Some(b"ab"), Some(b"a".to_vec()), Some(b"b".to_vec()));
        assert_eq!(lo, Bound::Included(b"ab".to_vec()));
        assert_eq!(hi, Bound::Excluded(b"ac".to_vec()));
        let (lo, hi) = scan_bounds(Some(b"ab"), Some(b"abc".to_vec()), Some(b"abd".to_vec()));
        assert_eq!(lo, Bound::Included(b"abc".to_vec()));
        assert_eq!(hi, Bound::Excluded(b"abd".to_vec()));
        let (lo, hi) = scan_bounds(None, None, None);
        assert_eq!((lo, hi), (Bound::Unbounded, Bound::Unbounded));
    }
}
