//! Background work: picking flushes and compactions, running them without the engine, and
//! installing their results (manifest edit, new version, obsolete-file removal).

use super::Db;
use crate::compaction::{self, CompactionJob, CompactionOutput};
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::flush::{FlushJob, FlushOutput};
use crate::manifest::ManifestWriter;
use crate::stats::LevelStats;
use crate::version::{AddedTable, VersionEdit};
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::{current, File, Vfs};

/// Identifies a picked job to [`Db::install`]. Every picked job must be installed, with its
/// output or its error, so that its reservations are released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    id: u64,
    /// Every file this job creates has a number at or above this; obsolete-file removal
    /// leaves such files alone while the job runs.
    min_output: u64,
    flush: bool,
    reservation: Option<compaction::Reservation>,
}

/// Background work the engine can do now.
pub struct Job<V: Vfs + Clone> {
    ticket: Ticket,
    work: Work<V>,
}

enum Work<V: Vfs + Clone> {
    Flush(FlushJob<V>),
    Compaction(CompactionJob<V>),
}

impl<V: Vfs + Clone> core::fmt::Debug for Job<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.work {
            Work::Flush(_) => f.write_str("Job::Flush"),
            Work::Compaction(c) => write!(f, "Job::Compaction({})", c.describe()),
        }
    }
}

/// The result of running a [`Job`], to be installed with [`Db::install`].
pub enum JobOutput {
    /// A finished flush.
    Flush(FlushOutput),
    /// A finished compaction.
    Compaction(CompactionOutput),
}

impl<V: Vfs + Clone> Job<V> {
    /// Does the work (reads and writes tables) without touching the `Db`, so that it can run
    /// without the engine's lock. Hand both results to [`Db::install`].
    pub fn run(self) -> (Ticket, Result<JobOutput>) {
        let out = match self.work {
            Work::Flush(j) => j.run().map(JobOutput::Flush),
            Work::Compaction(j) => j.run().map(JobOutput::Compaction),
        };
        (self.ticket, out)
    }

    /// True for a flush.
    pub fn is_flush(&self) -> bool {
        self.ticket.flush
    }
}

impl<V: Vfs + Clone> Db<V> {
    /// Picks the next background job, if any, and reserves its inputs. The caller runs it
    /// (anywhere, without the `Db`) and hands the result to [`Db::install`].
    pub fn pick_job(&mut self) -> Option<Job<V>> {
        if !self.background_allowed() {
            return None;
        }
        if !self.flush_running {
            if let Some(frozen) = self.imm.front().cloned() {
                self.flush_running = true;
                let ticket = self.new_ticket(true, None);
                let number = self.files.allocate();
                return Some(Job {
                    ticket,
                    work: Work::Flush(FlushJob::new(
                        self.vfs.clone(),
                        self.opts.clone(),
                        frozen,
                        number,
                        self.snapshot_sequences(),
                    )),
                });
            }
        }
        let picked = compaction::pick(&self.version, &self.opts, &self.reservations())?;
        if picked.trivial_move {
            self.stats.trivial_moves += 1;
        } else if picked.output_level == 0 {
            self.stats.l0_merges += 1;
        }
        Some(self.start_compaction(picked))
    }

    fn new_ticket(&mut self, flush: bool, reservation: Option<compaction::Reservation>) -> Ticket {
        self.next_job_id += 1;
        let t = Ticket {
            id: self.next_job_id,
            min_output: self.files.peek(),
            flush,
            reservation,
        };
        self.running.push(t.clone());
        t
    }

    fn reservations(&self) -> Vec<compaction::Reservation> {
        self.running
            .iter()
            .filter_map(|t| t.reservation.clone())
            .collect()
    }

    fn start_compaction(&mut self, picked: compaction::Picked) -> Job<V> {
        let ticket = self.new_ticket(false, Some(picked.reservation()));
        let job = CompactionJob::new(
            picked,
            self.vfs.clone(),
            self.opts.clone(),
            self.table_cache.clone(),
            self.files.clone(),
            self.snapshot_sequences(),
        );
        Job {
            ticket,
            work: Work::Compaction(job),
        }
    }

    /// True when background work is waiting to be picked.
    pub fn has_pending_work(&self) -> bool {
        if !self.background_allowed() {
            return false; // pick_job hands out nothing
        }
        (!self.imm.is_empty() && !self.flush_running)
            || compaction::pick(&self.version, &self.opts, &self.reservations()).is_some()
    }

    /// Jobs picked and not yet installed.
    pub fn running_jobs(&self) -> usize {
        self.running.len()
    }

    /// Frozen memtables waiting for flush.
    pub fn immutable_count(&self) -> usize {
        self.imm.len()
    }

    /// Installs what a job produced: records it in the manifest (durably), switches to the
    /// new version, and removes the files it made obsolete. Always releases the job's
    /// reservations. A job that failed leaves its partial output behind for the next
    /// obsolete-file sweep and poisons the database (like a failed WAL sync: background I/O
    /// errors stop writes until reopen); a failed manifest write poisons it too.
    pub fn install(&mut self, ticket: Ticket, output: Result<JobOutput>) -> Result<()> {
        self.running.retain(|t| t.id != ticket.id);
        if ticket.flush {
            self.flush_running = false;
        }
        let r = match output {
            Ok(JobOutput::Flush(out)) => self.install_flush(out),
            Ok(JobOutput::Compaction(out)) => self.install_compaction(out),
            Err(e) => Err(e),
        };
        if let Err(e) = &r {
            self.poison(e);
        }
        r
    }

    fn install_flush(&mut self, out: FlushOutput) -> Result<()> {
        let frozen = match self.imm.front() {
            Some(f) if Arc::ptr_eq(f, &out.frozen) => f.clone(),
            _ => {
                return Err(Error::InvalidArgument(String::from(
                    "flush output does not match the oldest frozen memtable",
                )))
            }
        };
        let new_log = self.imm.get(1).map_or(self.mem_first_wal, |f| f.first_wal);
        let mut edit = VersionEdit {
            log_number: Some(new_log),
            next_file_number: Some(self.files.peek()),
            last_sequence: Some(self.flushed_seq.max(frozen.mem.max_seq().unwrap_or(0))),
            ..VersionEdit::default()
        };
        if let Some(meta) = &out.meta {
            edit.added.push(AddedTable {
                level: 0,
                run: self.version.max_run_id() + 1,
                meta: meta.clone(),
            });
        }
        self.log_and_apply(&edit)?;
        self.imm.pop_front();
        self.flushed_seq = edit.last_sequence.unwrap_or(self.flushed_seq);
        self.log_number = new_log;
        self.stats.flushes += 1;
        self.stats.flush_bytes += out.meta.as_ref().map_or(0, |m| m.size);
        self.remove_obsolete_files().map(|_| ())
    }

    fn install_compaction(&mut self, out: CompactionOutput) -> Result<()> {
        let mut edit = out.edit.clone();
        edit.next_file_number = Some(self.files.peek());
        self.log_and_apply(&edit)?;
        for &(level, read, written) in &out.level_io {
            self.note_level_io(level, read, written);
        }
        self.stats.compactions += 1;
        for &(_, n) in &edit.removed {
            self.table_cache.evict(n);
        }
        self.remove_obsolete_files().map(|_| ())
    }

    fn note_level_io(&mut self, level: usize, read: u64, written: u64) {
        while self.stats.levels.len() <= level {
            let l = self.stats.levels.len();
            self.stats.levels.push(LevelStats {
                level: l,
                ..LevelStats::default()
            });
        }
        self.stats.levels[level].compaction_read += read;
        self.stats.levels[level].compaction_written += written;
    }

    /// Appends `edit` to the manifest (rewriting the manifest first if it is too big) and
    /// installs the new version.
    fn log_and_apply(&mut self, edit: &VersionEdit) -> Result<()> {
        let v = self
            .version
            .apply(edit)
            .map_err(|e| Error::InvalidArgument(format!("bad version edit: {}", e.0)))?;
        let Some((manifest, current)) = self.manifest.as_mut() else {
            return Err(Error::ReadOnly(String::from("no manifest writer")));
        };
        if manifest.size() >= self.opts.max_manifest_size {
            let number = self.files.allocate();
            let mut snapshot = v.snapshot_edit();
            snapshot.log_number = Some(edit.log_number.unwrap_or(self.log_number));
            snapshot.next_file_number = Some(self.files.peek());
            snapshot.last_sequence = Some(edit.last_sequence.unwrap_or(self.flushed_seq));
            let writer = ManifestWriter::create(&self.vfs, number, &snapshot)?;
            *current = current::switch(&self.vfs, current, number)?;
            *manifest = writer;
        } else {
            manifest.append(edit)?;
        }
        self.version = Arc::new(v);
        Ok(())
    }

    /// True when the content of obsolete-looking file `name` proves this engine wrote it (or
    /// this open created it): a WAL or manifest starting with its magic number (or cut short
    /// inside it, as a crash while creating it leaves it), a table ending with its footer
    /// magic, an empty file. Anything else named like an engine file is someone else's, and is
    /// left alone.
    pub(super) fn provably_ours(&self, name: &str, kind: FileKind) -> Result<bool> {
        if kind.number().is_some_and(|n| n >= self.first_own_file) {
            return Ok(true);
        }
        let file = match self.vfs.open_read(name) {
            Ok(f) => f,
            Err(e) if e.kind() == cairn_vfs::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let len = file.len()?;
        let mut magic = [0u8; 8];
        let prefix_of = |want: &[u8; 8]| -> Result<bool> {
            // A file cut short while being created: empty or a prefix of the magic number.
            let mut head = [0u8; 8];
            let n = len as usize;
            file.read_exact_at(0, &mut head[..n])?;
            Ok(head[..n] == want[..n])
        };
        Ok(match kind {
            FileKind::Wal(_) if len < 8 => prefix_of(crate::wal::MAGIC)?,
            FileKind::Manifest(_) if len < 8 => prefix_of(crate::manifest::MAGIC)?,
            FileKind::Table(_) if len == 0 => true,
            FileKind::Wal(_) | FileKind::Manifest(_) if len >= 8 => {
                file.read_exact_at(0, &mut magic)?;
                let want = if matches!(kind, FileKind::Wal(_)) {
                    crate::wal::MAGIC
                } else {
                    crate::manifest::MAGIC
                };
                &magic == want
            }
            FileKind::Table(_) if len >= crate::table::format::FOOTER_LEN as u64 => {
                file.read_exact_at(len - 8, &mut magic)?;
                magic == crate::table::format::TABLE_MAGIC
            }
            _ => false,
        })
    }

    /// Removes WALs below the log number, tables in no version and not possibly being written
    /// by a running job, and manifests other than the current one — each only when
    /// [`Db::provably_ours`] holds; the others are listed in `Recovered::unknown_files`. Only
    /// called after the edits that made them obsolete are durable. Returns how many files
    /// were removed.
    pub(super) fn remove_obsolete_files(&mut self) -> Result<u64> {
        let Some(wal_number) = self.wal.as_ref().map(|w| w.number()) else {
            return Ok(0); // read-only
        };
        if self.file_pins > 0 {
            return Ok(0); // a checkpoint is copying; `end_checkpoint` sweeps
        }
        let manifest_number = self.manifest.as_ref().map_or(0, |(m, _)| m.number());
        let live: BTreeSet<u64> = self.version.all_tables().map(|(_, t)| t.number).collect();
        let min_running = self
            .running
            .iter()
            .map(|t| t.min_output)
            .min()
            .unwrap_or(u64::MAX);
        let mut removed = 0u64;
        for name in self.vfs.list()? {
            let kind = filename::parse(&name);
            let obsolete = is_obsolete(
                kind,
                &live,
                self.log_number,
                wal_number,
                manifest_number,
                min_running,
            );
            if obsolete && !self.provably_ours(&name, kind)? {
                if !self.recovered.unknown_files.contains(&name) {
                    self.recovered.unknown_files.push(name);
                }
                continue;
            }
            if obsolete {
                if let FileKind::Table(n) = kind {
                    self.table_cache.evict(n);
                }
                self.vfs.remove(&name)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.vfs.sync_dir()?;
        }
        Ok(removed)
    }

    /// Runs one background job inline if there is one. Returns whether work was done. The
    /// browser and WASI call this between requests; tests use it to drive the engine
    /// deterministically.
    pub fn step(&mut self) -> Result<bool> {
        let Some(job) = self.pick_job() else {
            return Ok(false);
        };
        let (ticket, out) = job.run();
        self.install(ticket, out).map(|_| true)
    }

    /// Freezes the memtable and flushes every frozen memtable, inline.
    pub fn flush(&mut self) -> Result<()> {
        self.rotate()?;
        while !self.imm.is_empty() {
            if !self.step()? {
                break;
            }
        }
        Ok(())
    }

    /// Runs background work inline until none is left (flushes and compactions).
    pub fn run_all_background_work(&mut self) -> Result<()> {
        while self.step()? {}
        Ok(())
    }

    /// Picks a manual compaction of the tables overlapping `[start, end]` (one level at a
    /// time, top down); `None` when the range is fully compacted into the last non-empty
    /// level. Native runs the returned job on its thread; [`Db::compact_range`] runs it inline.
    pub fn pick_manual(
        &mut self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        from_level: usize,
    ) -> Option<Job<V>> {
        if !self.background_allowed() {
            return None;
        }
        let picked = compaction::pick_manual(
            &self.version,
            &self.opts,
            start,
            end,
            from_level,
            &self.snapshot_sequences(),
            &self.reservations(),
        )?;
        Some(self.start_compaction(picked))
    }

    /// Flushes, then compacts every table overlapping `[start, end]` down the levels, inline.
    pub fn compact_range(&mut self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.resume_if_resumable()?;
        self.check_writable()?;
        self.flush()?;
        for level in 0..self.version.num_levels() {
            while let Some(job) = self.pick_manual(start, end, level) {
                let (ticket, out) = job.run();
                self.install(ticket, out)?;
            }
        }
        Ok(())
    }
}

/// Whether a file of `kind` is obsolete: a WAL below the log number (other than the one being
/// written), a table in no version and not possibly being written by a running job (numbered
/// below `min_running`), a manifest other than the current one. `Db::verify` reports what the
/// next open would remove by the same rule.
pub(super) fn is_obsolete(
    kind: FileKind,
    live: &BTreeSet<u64>,
    log_number: u64,
    wal_number: u64,
    manifest_number: u64,
    min_running: u64,
) -> bool {
    match kind {
        FileKind::Wal(n) => n < log_number && n != wal_number,
        FileKind::Table(n) => !live.contains(&n) && n < min_running,
        FileKind::Manifest(n) => n != manifest_number,
        FileKind::Current | FileKind::Other => false,
    }
}
