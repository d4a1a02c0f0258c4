//! Commands that read database files directly, never changing them: `dump-wal`,
//! `dump-sst`, `dump-manifest` and `verify`. Every file is read through the engine's
//! [`ReadOnlyVfs`] (which refuses every mutation), and every verdict on what is a torn tail and
//! what is damage comes from the engine's own recovery code: `verify` runs
//! [`cairn_core::db::Db::verify`] (the recovery `Db::open` runs, plus a read of every table
//! block), `dump-manifest` judges the manifest with [`cairn_core::db::read_manifest`] (what
//! recovery reads it with), and `dump-wal` replays with [`wal::scan`] told whether the file is
//! the newest WAL of its directory, as recovery tells it.

use super::codec::{human_bytes, show};
use super::error::{engine_exit_code, exit, CliError, IoContext, Result};
use super::progress::{bar, Unit};
use super::Ctx;
use cairn::{Error, Options, RecoveryMode};
use cairn_core::batch::{BatchRef, HEADER_LEN as BATCH_HEADER_LEN};
use cairn_core::db::read_manifest;
use cairn_core::filename::{self, FileKind};
use cairn_core::iter::InternalIterator;
use cairn_core::key::{self, Kind};
use cairn_core::table::format::{read_block, BLOCK_TRAILER_LEN, FOOTER_LEN};
use cairn_core::table::{Block, BloomFilter, Footer, Table};
use cairn_core::version::VersionEdit;
use cairn_core::wal;
use cairn_vfs::current;
use cairn_vfs::{File, ReadOnlyFile, ReadOnlyVfs, StdVfs, Vfs};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn out_ctx() -> String {
    String::from("writing to stdout")
}

/// A file named on the command line, opened read-only through its directory's
/// [`ReadOnlyVfs`].
struct FileArg {
    vfs: ReadOnlyVfs<StdVfs>,
    name: String,
    file: Arc<RoFile>,
}

/// A file of a database directory, opened read-only.
type RoFile = ReadOnlyFile<<StdVfs as Vfs>::File>;

fn open_file_arg(path: &Path) -> Result<FileArg> {
    let fail =
        |e: cairn_vfs::Error| CliError::db(format!("cannot open {}", path.display()), e.into());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let vfs = ReadOnlyVfs::new(StdVfs::existing(&dir).map_err(fail)?);
    let name = file_name(path);
    let file = vfs.open_read(&name).map_err(fail)?;
    Ok(FileArg { vfs, name, file })
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
        Some(Kind::RangeDelete) => "RANGEDEL",
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
    let FileArg { vfs, name, file } = open_file_arg(path)?;
    let bytes = file
        .read_all()
        .map_err(|e| CliError::db(format!("reading {}", path.display()), e.into()))?;
    // Recovery lets only the newest WAL of a database end in a torn tail: judge the file as
    // recovery would in its directory.
    let newest_in_dir = vfs
        .list()
        .map_err(|e| {
            CliError::db(
                format!("listing the directory of {}", path.display()),
                e.into(),
            )
        })?
        .iter()
        .filter_map(|n| match filename::parse(n) {
            FileKind::Wal(n) => Some(n),
            _ => None,
        })
        .max();
    let is_newest = match filename::parse(&name) {
        FileKind::Wal(n) => newest_in_dir == Some(n),
        // Not named like a database's WAL: no directory to judge it in.
        _ => true,
    };
    // The engine's verdict first (header, version, torn tail or corruption)...
    let verdict = wal::scan(
        &*file,
        &name,
        RecoveryMode::TolerateTornTail,
        is_newest,
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
                        Kind::RangeDelete => writeln!(
                            out,
                            "  @{seq} RANGEDEL [{}, {})",
                            show(rec.key, ctx.format),
                            show(rec.value, ctx.format)
                        ),
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
                    "torn tail at offset {off} ({why}): recovery drops the last {} bytes (this \
                     is the newest WAL of its directory)",
                    (bytes.len() as u64).saturating_sub(off)
                );
            }
            if r.clean_close {
                println!("closed cleanly");
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
    let FileArg { file, .. } = open_file_arg(path)?;
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
        footer.version
    );
    let _ = writeln!(
        o,
        "entries    {} ({} tombstones), sequence {}..={}",
        props.num_entries, props.num_tombstones, props.min_seq, props.max_seq
    );
    if props.num_range_deletions > 0 {
        let _ = writeln!(o, "range dels {}", props.num_range_deletions);
        for t in table.range_dels().tombstones() {
            let _ = writeln!(
                o,
                "  [{}, {}) @{}",
                show(&t.start, ctx.format),
                show(&t.end, ctx.format),
                t.seq
            );
        }
    }
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

/// The database directory, read-only.
fn open_dir(dir: &Path) -> Result<ReadOnlyVfs<StdVfs>> {
    StdVfs::existing(dir).map(ReadOnlyVfs::new).map_err(|e| {
        let err = if e.kind() == cairn_vfs::ErrorKind::NotFound {
            Error::NotFound(dir.display().to_string())
        } else {
            e.into()
        };
        CliError::db(format!("cannot open {}", dir.display()), err)
    })
}

/// The options the CLI opens databases with: `verify` and `dump-manifest` judge a database
/// exactly as the CLI's (and a default application's) `Db::open` does.
fn open_options() -> Options {
    Options::default().create_if_missing(false)
}

/// The current pointer, read as recovery reads it.
fn read_current(
    vfs: &ReadOnlyVfs<StdVfs>,
    dir: &Path,
) -> std::result::Result<current::Current, Error> {
    match current::read(vfs) {
        Ok(c) => Ok(c),
        Err(current::ReadError::Missing) => Err(Error::NotFound(format!(
            "{}: no CURRENT-A/CURRENT-B pointer",
            dir.display()
        ))),
        Err(current::ReadError::Corrupt(d)) => Err(Error::corruption("CURRENT", Some(0), d)),
        Err(current::ReadError::UnsupportedVersion(v)) => Err(Error::UnsupportedFormat(format!(
            "CURRENT format version {v}, this build reads {}",
            current::FORMAT_VERSION
        ))),
        Err(current::ReadError::Io(e)) => Err(e.into()),
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

pub fn dump_manifest(ctx: &Ctx, dir: &Path) -> Result<()> {
    let vfs = open_dir(dir)?;
    let fail = |e: Error| CliError::db(dir.display().to_string(), e);
    let cur = read_current(&vfs, dir).map_err(fail)?;
    // The manifest as recovery reads and judges it (torn tail or corruption).
    let m = read_manifest(&vfs, open_options().num_levels, &cur).map_err(fail)?;
    let name = &m.name;
    let valid_len = m.torn_tail.unwrap_or_else(|| m.file.len().unwrap_or(0));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "CURRENT    -> {name} (generation {}, {} damaged slot(s))",
        cur.generation, cur.damaged_slots
    );
    let _ = writeln!(
        o,
        "manifest   {name}: {} edits, {valid_len} valid bytes{}",
        m.edits.len(),
        m.torn_tail
            .map(|t| format!(", torn tail at {t} (dropped at the next open)"))
            .unwrap_or_default()
    );
    for (i, edit) in m.edits.iter().enumerate() {
        describe_edit(&mut o, i, edit, ctx);
    }
    let v = &m.version;
    let _ = writeln!(
        o,
        "version    log number {}, next file {}, last sequence {}",
        m.log_number, m.next_file, m.last_sequence
    );
    for level in 0..v.num_levels() {
        let tables = v.tables_at(level);
        if tables.is_empty() {
            continue;
        }
        let names: Vec<String> = tables.iter().map(|t| filename::table(t.number)).collect();
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

pub fn verify(ctx: &Ctx, dir: &Path) -> Result<()> {
    let vfs = open_dir(dir)?;
    let where_ = dir.display().to_string();
    let total_bytes: u64 = vfs
        .list()
        .map_err(|e| CliError::db(format!("listing {where_}"), e.into()))?
        .iter()
        .filter(|n| matches!(filename::parse(n), FileKind::Table(_)))
        .filter_map(|n| vfs.open_read(n).ok()?.len().ok())
        .sum();
    let pb = bar(total_bytes, "verifying", Unit::Bytes, ctx.quiet);
    // The recovery `Db::open` runs: `Err` exactly when open would refuse the database.
    let checked = cairn_core::db::Db::verify(vfs.into_inner(), open_options(), &mut |n| pb.inc(n));
    pb.finish_and_clear();
    let v = checked
        .map_err(|e| CliError::db(format!("{where_}: open would refuse the database"), e))?;
    let rec = &v.recovered;
    let mut notes: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    if rec.damaged_current_slots > 0 {
        notes.push(format!(
            "{} CURRENT slot(s) fail their checksum (normal after a crash during a manifest switch)",
            rec.damaged_current_slots
        ));
    }
    if let Some((name, off)) = &rec.torn_manifest_tail {
        notes.push(format!(
            "{name}: torn tail at offset {off}, an edit whose append never completed (the next open drops it)"
        ));
    }
    if let Some((name, off, why)) = &rec.torn_wal_tail {
        warnings.push(format!(
            "{name}: torn tail at offset {off} ({why}): the next open drops its last {} bytes, \
             the writes after sequence {} in them are lost. Only a write group appended after \
             the last synced offset the WAL records can be dropped this way (a crash during or \
             right after its append); if its writer was told it was synced, it is lost \
             (docs/DURABILITY.md, the torn-tail window)",
            v.torn_wal_bytes, v.last_sequence
        ));
    }
    for n in &v.obsolete_files {
        notes.push(format!("{n}: obsolete (the next open removes it)"));
    }
    for n in &rec.unknown_files {
        notes.push(format!("{n}: not a file of this database (left alone)"));
    }

    let mut o = String::new();
    let _ = writeln!(
        o,
        "{where_}: {} tables ({} data blocks, {} entries, {} read), {} WAL file(s) ({} records, {}), manifest {}, last sequence {}",
        v.tables,
        v.data_blocks,
        v.entries,
        human_bytes(v.bytes_read),
        rec.wal_files,
        rec.wal_records,
        human_bytes(v.wal_bytes),
        v.manifest,
        v.last_sequence
    );
    for n in &notes {
        let _ = writeln!(o, "note: {n}");
    }
    for w in &warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(o.as_bytes()).io_ctx(out_ctx)?;
    drop(out);
    if v.problems.is_empty() {
        println!("OK");
        return Ok(());
    }
    for p in &v.problems {
        eprintln!("cairn: {where_}: {p}");
    }
    // The most specific code wins: corruption, then unsupported format, then I/O.
    let codes: Vec<u8> = v.problems.iter().map(engine_exit_code).collect();
    let code = [exit::CORRUPTION, exit::UNSUPPORTED_FORMAT, exit::IO]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(exit::OTHER);
    Err(CliError::Failed {
        code,
        summary: format!(
            "verify found {} problem(s) in {where_} (open accepts the database; reads of the damaged blocks fail)",
            v.problems.len(),
        ),
    })
}
