//! Commands that read database files directly, never changing them: `dump-wal`,
//! `dump-sst`, `dump-manifest` and `verify`.

use super::codec::{human_bytes, show};
use super::error::{engine_exit_code, exit, CliError, IoContext, Result};
use super::progress::{bar, Unit};
use super::rofile::RoFile;
use super::Ctx;
use cairn::{Error, RecoveryMode};
use cairn_core::batch::{BatchRef, HEADER_LEN as BATCH_HEADER_LEN};
use cairn_core::iter::InternalIterator;
use cairn_core::key::{self, Kind};
use cairn_core::table::format::{read_block, BLOCK_TRAILER_LEN, FOOTER_LEN};
use cairn_core::table::{Block, BloomFilter, Footer, Table};
use cairn_core::version::{Version, VersionEdit};
use cairn_core::{manifest, wal};
use cairn_vfs::{current, File, Vfs};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most levels a database may have (`Options::num_levels` is at most 16).
const MAX_LEVELS: usize = 16;

fn out_ctx() -> String {
    String::from("writing to stdout")
}

fn open_ro(path: &Path) -> Result<Arc<RoFile>> {
    RoFile::open(path)
        .map(Arc::new)
        .io_ctx(|| format!("cannot open {}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The number in a `000123.sst` / `000123.wal` name (0 if the name is not of that form).
fn file_number(path: &Path) -> u64 {
    let name = file_name(path);
    name.split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn kind_name(kind: u8) -> &'static str {
    match Kind::from_u8(kind) {
        Some(Kind::Put) => "PUT",
        Some(Kind::Delete) => "DEL",
        None => "???",
    }
}

/// Describes an internal key as `user_key @seq KIND`.
fn describe_ikey(ikey: &[u8], ctx: &Ctx) -> String {
    match key::parse(ikey) {
        Some(p) => format!(
            "{} @{} {}",
            show(p.user_key, ctx.format),
            p.seq,
            kind_name(p.kind)
        ),
        None if ikey.is_empty() => String::from("(none)"),
        None => format!("(malformed internal key {})", show(ikey, ctx.format)),
    }
}

/// Describes an index separator: a user key with the seek trailer (kind 0xFF, largest
/// sequence) when the builder shortened it, or a full internal key.
fn describe_separator(ikey: &[u8], ctx: &Ctx) -> String {
    if ikey.len() >= key::TRAILER_LEN && key::kind_byte(ikey) == Kind::SEEK {
        return format!("{} (separator)", show(key::user_key(ikey), ctx.format));
    }
    describe_ikey(ikey, ctx)
}

// ---------------------------------------------------------------------------------------
// dump-wal

pub fn dump_wal(ctx: &Ctx, path: &Path, summary: bool) -> Result<()> {
    let file = open_ro(path)?;
    let name = file_name(path);
    let bytes = file
        .read_all()
        .map_err(|e| CliError::db(format!("reading {}", path.display()), e.into()))?;
    // The engine's verdict first (header, version, torn tail or corruption)...
    let verdict = wal::replay(
        &*file,
        &name,
        RecoveryMode::TolerateTornTail,
        true,
        0,
        |_| Ok(()),
    );
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "WAL {} ({} bytes, format version {})",
        path.display(),
        bytes.len(),
        cairn_core::coding::get_u32(&bytes, 8).map_or_else(|| String::from("?"), |v| v.to_string())
    )
    .io_ctx(out_ctx)?;
    // ...then every record up to the first bad one, with its offset.
    let mut pos = wal::FILE_HEADER_LEN;
    let (mut records, mut ops) = (0u64, 0u64);
    let version = wal::decode_header(&bytes).unwrap_or(0);
    if verdict.as_ref().is_ok() || matches!(verdict, Err(Error::Corruption { .. })) {
        while pos < bytes.len() {
            let Ok(Ok((rec, next))) = wal::decode_record(&bytes, pos, version) else {
                break;
            };
            let payload = match rec {
                wal::WalRecord::Batch { batch, .. } => batch,
                wal::WalRecord::Close { last_sequence, .. } => {
                    writeln!(
                        out,
                        "clean-close marker @{pos}: last sequence {last_sequence}"
                    )
                    .io_ctx(out_ctx)?;
                    pos = next;
                    continue;
                }
            };
            let Some(batch) = BatchRef::parse(payload) else {
                break;
            };
            writeln!(
                out,
                "record {records} @{pos}: seq {}..={} ({} ops, {} bytes)",
                batch.sequence,
                batch.sequence + u64::from(batch.count).saturating_sub(1),
                batch.count,
                payload.len().saturating_sub(BATCH_HEADER_LEN)
            )
            .io_ctx(out_ctx)?;
            for (seq, rec) in (batch.sequence..).zip(batch.iter()) {
                let Ok(rec) = rec else {
                    writeln!(out, "  (malformed operation)").io_ctx(out_ctx)?;
                    break;
                };
                if !summary {
                    match rec.kind {
                        Kind::Put => writeln!(
                            out,
                            "  @{seq} PUT {}\t{}",
                            show(rec.key, ctx.format),
                            show(rec.value, ctx.format)
                        ),
                        Kind::Delete => {
                            writeln!(out, "  @{seq} DEL {}", show(rec.key, ctx.format))
                        }
                    }
                    .io_ctx(out_ctx)?;
                }
                ops += 1;
            }
            records += 1;
            pos = next;
        }
    }
    writeln!(out, "{records} records, {ops} operations").io_ctx(out_ctx)?;
    out.flush().io_ctx(out_ctx)?;
    match verdict {
        Ok(r) => {
            if let Some((off, why)) = r.torn_tail {
                println!(
                    "torn tail at offset {off} ({why}): recovery drops it when this is the newest WAL"
                );
            }
            Ok(())
        }
        Err(e) => Err(CliError::db(path.display().to_string(), e)),
    }
}

// ---------------------------------------------------------------------------------------
// dump-sst

/// Expected false-positive rate of a bloom filter with `m` bits, `k` probes, `n` keys.
fn bloom_fpr(m: f64, k: f64, n: f64) -> f64 {
    (1.0 - (-k * n / m).exp()).powf(k)
}

fn read_footer(file: &RoFile, number: u64) -> std::result::Result<(Footer, u64), Error> {
    let size = file.len()?;
    if size < FOOTER_LEN as u64 {
        return Err(Error::corruption(
            "table",
            None,
            format!("{size} bytes is too short for a table"),
        ));
    }
    let offset = size - FOOTER_LEN as u64;
    let mut buf = [0u8; FOOTER_LEN];
    file.read_exact_at(offset, &mut buf)?;
    Ok((Footer::decode(&buf, number, offset)?, offset))
}

pub fn dump_sst(ctx: &Ctx, path: &Path, summary: bool, limit: Option<u64>) -> Result<()> {
    let file = open_ro(path)?;
    let number = file_number(path);
    let fail = |e: Error| CliError::db(path.display().to_string(), e);
    let size = file.len().map_err(|e| fail(e.into()))?;
    let (footer, footer_offset) = read_footer(&file, number).map_err(fail)?;
    let table = Arc::new(Table::open(file.clone(), number, size, None).map_err(fail)?);
    let props = table.properties().clone();
    let mut o = String::new();
    let _ = writeln!(o, "table {} ({size} bytes)", path.display());
    let handle = |h: Option<cairn_core::table::BlockHandle>| {
        h.map_or_else(
            || String::from("none"),
            |h| format!("@{} ({} bytes)", h.offset, h.size),
        )
    };
    let _ = writeln!(
        o,
        "footer     @{footer_offset}: index {}, filter {}, prefix filter {}, properties {}, format version {}",
        handle(Some(footer.index)),
        handle(footer.filter),
        handle(footer.prefix_filter),
        handle(Some(footer.properties)),
        cairn_core::table::format::FORMAT_VERSION
    );
    let _ = writeln!(
        o,
        "entries    {} ({} tombstones), sequence {}..={}",
        props.num_entries, props.num_tombstones, props.min_seq, props.max_seq
    );
    let _ = writeln!(o, "smallest   {}", describe_ikey(&props.smallest_key, ctx));
    let _ = writeln!(o, "largest    {}", describe_ikey(&props.largest_key, ctx));
    let raw = props.raw_key_bytes + props.raw_value_bytes;
    let _ = writeln!(
        o,
        "bytes      internal keys {} + values {} = {} uncompressed; data blocks {} ({} blocks, {:.2}x compression), index {}, filters {}",
        human_bytes(props.raw_key_bytes),
        human_bytes(props.raw_value_bytes),
        human_bytes(raw),
        human_bytes(props.data_bytes),
        props.num_data_blocks,
        raw as f64 / props.data_bytes.max(1) as f64,
        human_bytes(props.index_bytes),
        human_bytes(props.filter_bytes)
    );
    for (what, h) in [
        ("bloom", footer.filter),
        ("prefix bloom", footer.prefix_filter),
    ] {
        let Some(h) = h else {
            let _ = writeln!(o, "{what:<10} none");
            continue;
        };
        match read_block(&*file, number, h, footer_offset) {
            Ok(data) if data.len() >= 2 => {
                let bits = ((data.len() - 1) * 8) as f64;
                let k = data[data.len() - 1];
                let filter = BloomFilter::new(data);
                let n = props.num_entries.max(1) as f64;
                let mut line = format!(
                    "{what:<10} {} bits, {k} probes, {:.1} bits/entry, expected false positives {:.3}%",
                    bits,
                    bits / n,
                    100.0 * bloom_fpr(bits, f64::from(k), n)
                );
                if what == "bloom" {
                    // Measure: probe keys that are certainly absent.
                    let (mut probes, mut hits) = (0u32, 0u32);
                    for i in 0..20_000u32 {
                        let probe = format!("\u{1}cairn-bloom-probe-{i}");
                        if table
                            .get(probe.as_bytes(), key::MAX_SEQUENCE)
                            .ok()
                            .flatten()
                            .is_some()
                        {
                            continue;
                        }
                        probes += 1;
                        hits += u32::from(filter.may_contain(probe.as_bytes()));
                    }
                    let _ = write!(
                        line,
                        ", measured {:.3}% on {probes} absent keys",
                        100.0 * f64::from(hits) / f64::from(probes.max(1))
                    );
                }
                let _ = writeln!(o, "{line}");
            }
            Ok(_) => {
                let _ = writeln!(o, "{what:<10} malformed (too short)");
            }
            Err(e) => {
                let _ = writeln!(o, "{what:<10} unreadable: {e}");
            }
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    out.write_all(o.as_bytes()).io_ctx(out_ctx)?;
    if summary {
        return out.flush().io_ctx(out_ctx);
    }
    // Blocks, from the index.
    writeln!(out, "blocks").io_ctx(out_ctx)?;
    let index_data = read_block(&*file, number, footer.index, footer_offset).map_err(fail)?;
    let index = Arc::new(Block::new(index_data, number, footer.index.offset).map_err(fail)?);
    let mut it = index.iter();
    it.seek_to_first().map_err(fail)?;
    let mut i = 0u64;
    while it.valid() {
        let Some((h, _)) = cairn_core::table::BlockHandle::decode(it.value()) else {
            return Err(fail(Error::corruption(
                path.display().to_string(),
                Some(footer.index.offset),
                "bad block handle in index",
            )));
        };
        let mut kind = [0u8; 1];
        let compression = match file.read_exact_at(h.offset + h.size, &mut kind) {
            Ok(()) if kind[0] == 0 => "none",
            Ok(()) if kind[0] == 1 => "lz4",
            Ok(()) => "unknown",
            Err(_) => "unreadable",
        };
        let entries = read_block(&*file, number, h, footer_offset)
            .and_then(|d| Block::new(d, number, h.offset))
            .and_then(|b| {
                let b = Arc::new(b);
                let mut bi = b.iter();
                bi.seek_to_first()?;
                let mut n = 0u64;
                while bi.valid() {
                    n += 1;
                    bi.next()?;
                }
                Ok(n)
            });
        let entries = match entries {
            Ok(n) => n.to_string(),
            Err(e) => format!("ERROR: {e}"),
        };
        writeln!(
            out,
            "  block {i} @{} stored {} B + {BLOCK_TRAILER_LEN} B trailer, {compression}, {entries} entries, keys <= {}",
            h.offset,
            h.size,
            describe_separator(it.key(), ctx)
        )
        .io_ctx(out_ctx)?;
        i += 1;
        it.next().map_err(fail)?;
    }
    // Entries.
    writeln!(out, "entries").io_ctx(out_ctx)?;
    let limit = limit.unwrap_or(u64::MAX);
    let mut ti = table.iter(false);
    ti.seek_to_first().map_err(fail)?;
    let mut n = 0u64;
    while ti.valid() && n < limit {
        match key::parse(ti.key()) {
            Some(p) => writeln!(
                out,
                "  @{} {} {}\t{}",
                p.seq,
                kind_name(p.kind),
                show(p.user_key, ctx.format),
                show(ti.value(), ctx.format)
            ),
            None => writeln!(out, "  (malformed key {})", show(ti.key(), ctx.format)),
        }
        .io_ctx(out_ctx)?;
        n += 1;
        ti.next().map_err(fail)?;
    }
    if n == limit && ti.valid() {
        writeln!(out, "  ... (--limit {limit} reached)").io_ctx(out_ctx)?;
    }
    out.flush().io_ctx(out_ctx)
}

// ---------------------------------------------------------------------------------------
// dump-manifest and verify: the database directory, read-only

/// The database directory as the engine sees it, read without changing anything.
struct DbFiles {
    dir: PathBuf,
    vfs: cairn_vfs::StdVfs,
}

impl DbFiles {
    fn open(dir: &Path) -> Result<DbFiles> {
        let vfs = cairn_vfs::StdVfs::existing(dir).map_err(|e| {
            let err = if e.kind() == cairn_vfs::ErrorKind::NotFound {
                Error::NotFound(dir.display().to_string())
            } else {
                e.into()
            };
            CliError::db(format!("cannot open {}", dir.display()), err)
        })?;
        Ok(DbFiles {
            dir: dir.to_path_buf(),
            vfs,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn current(&self) -> std::result::Result<current::Current, Error> {
        match current::read(&self.vfs) {
            Ok(c) => Ok(c),
            Err(current::ReadError::Missing) => Err(Error::NotFound(format!(
                "{}: no CURRENT-A/CURRENT-B pointer",
                self.dir.display()
            ))),
            Err(current::ReadError::Corrupt(d)) => Err(Error::corruption(
                self.path("CURRENT-A").display().to_string(),
                Some(0),
                d,
            )),
            Err(current::ReadError::UnsupportedVersion(v)) => {
                Err(Error::UnsupportedFormat(format!(
                    "CURRENT format version {v}, this build reads {}",
                    current::FORMAT_VERSION
                )))
            }
            Err(current::ReadError::Io(e)) => Err(e.into()),
        }
    }

    /// Replays the manifest named by `cur`, without truncating a torn tail.
    fn manifest(&self, cur: &current::Current) -> std::result::Result<manifest::Replayed, Error> {
        let name = cairn_core::filename::manifest(cur.manifest);
        let path = self.path(&name);
        let file = RoFile::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corruption(
                    path.display().to_string(),
                    None,
                    "the manifest named by CURRENT is missing",
                )
            } else {
                Error::Io(cairn_vfs::Error::new(
                    cairn_vfs::ErrorKind::Io,
                    format!("open {}: {e}", path.display()),
                ))
            }
        })?;
        manifest::replay(&file, &path.display().to_string())
    }

    fn list(&self) -> Result<Vec<String>> {
        let mut names = self
            .vfs
            .list()
            .map_err(|e| CliError::db(format!("listing {}", self.dir.display()), e.into()))?;
        names.sort();
        Ok(names)
    }
}

fn describe_edit(o: &mut String, i: usize, edit: &VersionEdit, ctx: &Ctx) {
    let opt = |v: Option<u64>| v.map_or_else(|| String::from("-"), |v| v.to_string());
    let _ = writeln!(
        o,
        "edit {i}{}: log_number {}, next_file {}, last_sequence {}, +{} tables, -{} tables",
        if i == 0 { " (snapshot)" } else { "" },
        opt(edit.log_number),
        opt(edit.next_file_number),
        opt(edit.last_sequence),
        edit.added.len(),
        edit.removed.len()
    );
    for (level, n) in &edit.removed {
        let _ = writeln!(o, "  - L{level} {}", cairn_core::filename::table(*n));
    }
    for a in &edit.added {
        let t = &a.meta;
        let run = if a.level == 0 {
            format!(" run {}", a.run)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  + L{}{run} {} {} B, {} entries ({} tombstones), seq {}..={}, keys {} .. {}",
            a.level,
            cairn_core::filename::table(t.number),
            t.size,
            t.entries,
            t.tombstones,
            t.min_seq,
            t.max_seq,
            show(t.smallest_user_key(), ctx.format),
            show(t.largest_user_key(), ctx.format)
        );
    }
}

fn apply_all(edits: &[VersionEdit], name: &str) -> std::result::Result<Version, Error> {
    let mut v = Version::empty(MAX_LEVELS);
    for edit in edits {
        v = v
            .apply(edit)
            .map_err(|e| Error::corruption(name, None, e.0))?;
    }
    Ok(v)
}

pub fn dump_manifest(ctx: &Ctx, dir: &Path) -> Result<()> {
    let files = DbFiles::open(dir)?;
    let fail = |e: Error| CliError::db(dir.display().to_string(), e);
    let cur = files.current().map_err(fail)?;
    let replayed = files.manifest(&cur).map_err(fail)?;
    let name = cairn_core::filename::manifest(cur.manifest);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "CURRENT    -> {name} (generation {}, {} damaged slot(s))",
        cur.generation, cur.damaged_slots
    );
    let _ = writeln!(
        o,
        "manifest   {name}: {} edits, {} valid bytes{}",
        replayed.edits.len(),
        replayed.valid_len,
        replayed
            .torn_tail
            .map(|t| format!(", torn tail at {t} (dropped at next open)"))
            .unwrap_or_default()
    );
    for (i, edit) in replayed.edits.iter().enumerate() {
        describe_edit(&mut o, i, edit, ctx);
    }
    let v = apply_all(&replayed.edits, &name).map_err(fail)?;
    let _ = writeln!(o, "version");
    for level in 0..v.num_levels() {
        let tables = v.tables_at(level);
        if tables.is_empty() {
            continue;
        }
        let names: Vec<String> = tables
            .iter()
            .map(|t| cairn_core::filename::table(t.number))
            .collect();
        let _ = writeln!(
            o,
            "  L{level}: {} tables, {}: {}",
            tables.len(),
            human_bytes(v.level_size(level)),
            names.join(" ")
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(o.as_bytes()).io_ctx(out_ctx)
}

/// One problem `verify` found.
struct Problem {
    code: u8,
    message: String,
}

impl Problem {
    fn engine(context: &str, e: &Error) -> Problem {
        Problem {
            code: engine_exit_code(e),
            message: format!("{context}: {e}"),
        }
    }
}

pub fn verify(ctx: &Ctx, dir: &Path) -> Result<()> {
    let files = DbFiles::open(dir)?;
    let where_ = dir.display().to_string();
    // Writers must not change files under us: take the database lock like `Db::open` does.
    let _lock = files
        .vfs
        .lock()
        .map_err(|e| CliError::db(format!("cannot verify {where_}"), e.into()))?;
    let fail = |e: Error| CliError::db(where_.clone(), e);
    let cur = files.current().map_err(fail)?;
    let mut notes: Vec<String> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    if cur.damaged_slots > 0 {
        notes.push(format!(
            "{} CURRENT slot(s) fail their checksum (normal after a crash during a manifest switch)",
            cur.damaged_slots
        ));
    }
    let mname = cairn_core::filename::manifest(cur.manifest);
    let replayed = files.manifest(&cur).map_err(fail)?;
    if let Some(t) = replayed.torn_tail {
        notes.push(format!(
            "{mname}: torn tail at offset {t} (dropped at next open)"
        ));
    }
    let version =
        apply_all(&replayed.edits, &files.path(&mname).display().to_string()).map_err(fail)?;
    let log_number = replayed
        .edits
        .iter()
        .filter_map(|e| e.log_number)
        .next_back()
        .unwrap_or(0);
    let names = files.list()?;
    let mut wals: Vec<(u64, String)> = names
        .iter()
        .filter_map(|n| {
            let num = n.strip_suffix(".wal")?.parse::<u64>().ok()?;
            Some((num, n.clone()))
        })
        .collect();
    wals.sort_unstable();
    let live_wals: Vec<&(u64, String)> = wals.iter().filter(|(n, _)| *n >= log_number).collect();
    let tables: Vec<(usize, Arc<cairn_core::version::TableMeta>)> =
        version.all_tables().map(|(l, t)| (l, t.clone())).collect();
    let total_bytes: u64 = tables.iter().map(|(_, t)| t.size).sum::<u64>()
        + live_wals
            .iter()
            .filter_map(|(_, n)| std::fs::metadata(files.path(n)).ok())
            .map(|m| m.len())
            .sum::<u64>();
    let pb = bar(total_bytes, "verifying", Unit::Bytes, ctx.quiet);

    // Tables: every block, every checksum, key order, and agreement with the manifest.
    let (mut blocks, mut entries, mut bytes) = (0u64, 0u64, 0u64);
    for (level, meta) in &tables {
        let name = cairn_core::filename::table(meta.number);
        let path = files.path(&name);
        let shown = path.display().to_string();
        let file = match RoFile::open(&path) {
            Ok(f) => Arc::new(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(Problem::engine(
                    &format!("L{level}"),
                    &Error::corruption(shown, None, "table named by the manifest is missing"),
                ));
                continue;
            }
            Err(e) => {
                problems.push(Problem {
                    code: exit::IO,
                    message: format!("cannot open {shown}: {e}"),
                });
                continue;
            }
        };
        let len = file.len().unwrap_or(0);
        if len != meta.size {
            problems.push(Problem::engine(
                &format!("L{level}"),
                &Error::corruption(
                    shown,
                    None,
                    format!("table is {len} bytes, the manifest says {}", meta.size),
                ),
            ));
            pb.inc(meta.size);
            continue;
        }
        let checked = Table::open(file, meta.number, meta.size, None).and_then(|t| {
            let report = t.verify()?;
            let p = t.properties();
            if p.num_entries != meta.entries
                || p.min_seq != meta.min_seq
                || p.max_seq != meta.max_seq
                || p.smallest_key != meta.smallest
                || p.largest_key != meta.largest
            {
                return Err(Error::corruption(
                    name.clone(),
                    None,
                    "table properties disagree with the manifest",
                ));
            }
            Ok(report)
        });
        match checked {
            Ok(r) => {
                blocks += r.data_blocks;
                entries += r.entries;
                bytes += r.bytes_read;
            }
            // Errors from the table layer name the file only; say where it is.
            Err(e) => problems.push(Problem::engine(&shown, &e)),
        }
        pb.inc(meta.size);
    }

    // WALs: replay every record (checksums and batch encoding) without truncating anything.
    let (mut wal_records, mut wal_ops) = (0u64, 0u64);
    for (i, (_, name)) in live_wals.iter().enumerate() {
        let path = files.path(name);
        let shown = path.display().to_string();
        let file = match RoFile::open(&path) {
            Ok(f) => f,
            Err(e) => {
                problems.push(Problem {
                    code: exit::IO,
                    message: format!("cannot open {shown}: {e}"),
                });
                continue;
            }
        };
        let is_newest = i + 1 == live_wals.len();
        let r = wal::replay(
            &file,
            &shown,
            RecoveryMode::TolerateTornTail,
            is_newest,
            0,
            |b| {
                wal_ops += u64::from(b.count);
                for rec in b.iter() {
                    rec?;
                }
                Ok(())
            },
        );
        match r {
            Ok(r) => {
                wal_records += r.records;
                if let Some((off, why)) = r.torn_tail {
                    notes.push(format!(
                        "{shown}: torn tail at offset {off} ({why}); the next open drops it"
                    ));
                }
            }
            Err(e) => problems.push(Problem::engine(&shown, &e)),
        }
        pb.inc(file.len().unwrap_or(0));
    }
    pb.finish_and_clear();

    // Files the engine would remove at the next open.
    let live: std::collections::BTreeSet<u64> = tables.iter().map(|(_, t)| t.number).collect();
    for n in &names {
        let orphan = match n.strip_suffix(".sst").and_then(|s| s.parse::<u64>().ok()) {
            Some(num) => !live.contains(&num),
            None => n
                .strip_suffix(".wal")
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|num| num < log_number),
        };
        if orphan {
            notes.push(format!("{n}: not live (removed at the next open)"));
        }
    }

    let mut out = std::io::stdout().lock();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: {} tables ({} data blocks, {entries} entries, {} read), {} WAL file(s) ({wal_records} records, {wal_ops} operations), manifest {mname} ({} edits)",
        dir.display(),
        tables.len(),
        blocks,
        human_bytes(bytes),
        live_wals.len(),
        replayed.edits.len()
    );
    for n in &notes {
        let _ = writeln!(o, "note: {n}");
    }
    out.write_all(o.as_bytes()).io_ctx(out_ctx)?;
    drop(out);
    if problems.is_empty() {
        println!("OK");
        return Ok(());
    }
    for p in &problems {
        eprintln!("cairn: {}", p.message);
    }
    // The most specific code wins: corruption, then unsupported format, then I/O.
    let code = [exit::CORRUPTION, exit::UNSUPPORTED_FORMAT, exit::IO]
        .into_iter()
        .find(|c| problems.iter().any(|p| p.code == *c))
        .unwrap_or(exit::OTHER);
    Err(CliError::Failed {
        code,
        summary: format!(
            "verify found {} problem(s) in {}",
            problems.len(),
            dir.display()
        ),
    })
}
