//! The comparison report: one JSON file with every figure, rendered as Markdown with SVG
//! plots.

use crate::alloc_count::AllocReport;
use crate::measure::Physical;
use crate::run::{Config, EngineResult, WORKLOADS};
use crate::svg::{self, human, Scale};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

/// Everything one comparison run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// UTC date and time of the run.
    pub date: String,
    /// Machine description lines (CPU, cores, memory, kernel).
    pub machine: Vec<String>,
    /// Workload sizes.
    pub config: Option<Config>,
    /// Storage limits of the benchmark directory.
    pub physical: Option<Physical>,
    /// Per engine.
    pub engines: Vec<EngineResult>,
    /// Cairn's allocations per operation.
    pub alloc: Option<AllocReport>,
    /// The commit the run was built from.
    pub commit: String,
    /// Criterion micro-benchmarks: (name, median time, median throughput).
    #[serde(default)]
    pub micro: Vec<(String, String, String)>,
}

/// Parses criterion's console output into (name, median time, median throughput).
pub fn parse_criterion(text: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut name = String::new();
    let middle = |line: &str, tag: &str| -> Option<String> {
        let rest = line.split(tag).nth(1)?;
        let inner = rest.split('[').nth(1)?.split(']').next()?;
        let t: Vec<&str> = inner.split_whitespace().collect();
        (t.len() == 6).then(|| format!("{} {}", t[2], t[3]))
    };
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(first) = line.split_whitespace().next() {
                if first.contains('/') && !first.starts_with("Benchmarking") {
                    name = first.to_string();
                }
            }
        }
        if let Some(t) = middle(line, "time:") {
            out.push((name.clone(), t, String::new()));
        } else if let Some(t) = middle(line, "thrpt:") {
            if let Some(last) = out.last_mut() {
                last.2 = t;
            }
        }
    }
    out
}

fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The current date (UTC) and this machine's description.
pub fn machine() -> (String, Vec<String>) {
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mut lines = vec![
        format!("CPU: {cpu}"),
        format!("`nproc`: {}", sh("nproc", &[])),
        format!("Kernel: {}", sh("uname", &["-srm"])),
    ];
    let free = sh("free", &["-h"]);
    if let Some(mem) = free.lines().find(|l| l.starts_with("Mem:")) {
        lines.push(format!(
            "`free -h`: {}",
            mem.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    let fs = sh("df", &["-hT", "."]);
    if let Some(l) = fs.lines().nth(1) {
        lines.push(format!(
            "Filesystem of the benchmark directory (`df -hT`): {}",
            l.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    (date, lines)
}

/// The engine ratios are taken against: RocksDB, or (when a run has no RocksDB result,
/// e.g. because its C++ build was not available) the first of these present.
/// (percent of the fill done, `f(point)`) for each timeline point: engines of very
/// different speed share the x axis.
fn progress(
    tl: &[crate::run::TimelinePoint],
    f: impl Fn(&crate::run::TimelinePoint) -> f64,
) -> Vec<(f64, f64)> {
    let n = tl.len().max(1) as f64;
    tl.iter()
        .enumerate()
        .map(|(i, p)| ((i + 1) as f64 * 100.0 / n, f(p)))
        .collect()
}

const BASELINES: &[&str] = &["rocksdb", "fjall", "sled", "redb"];

/// Targets (Cairn / RocksDB) the report checks: (workload or "space", minimum ratio, or
/// maximum for space).
const TARGETS: &[(&str, f64)] = &[
    ("fillrandom", 1.5),
    ("readrandom", 1.3),
    ("readmissing", 2.0),
    ("fillsync-8t", 1.5),
    ("space", 1.2),
];

impl RunReport {
    fn baseline(&self) -> Option<&'static str> {
        BASELINES
            .iter()
            .copied()
            .find(|b| self.engine(b).is_some_and(|e| !e.workloads.is_empty()))
    }

    fn engine(&self, name: &str) -> Option<&EngineResult> {
        self.engines.iter().find(|e| e.engine == name)
    }

    fn ops(&self, engine: &str, workload: &str) -> Option<f64> {
        self.engine(engine)?
            .workload(workload)
            .map(|w| w.ops_per_sec)
    }

    fn names(&self) -> Vec<String> {
        self.engines.iter().map(|e| e.engine.clone()).collect()
    }

    fn workloads(&self) -> Vec<&'static str> {
        WORKLOADS
            .iter()
            .copied()
            .filter(|w| self.engines.iter().any(|e| e.workload(w).is_some()))
            .collect()
    }

    /// Writes `md` and the SVG plots into `svg_dir` (linked relative to the Markdown file).
    pub fn write(&self, md: &Path, svg_dir: &Path, notes: Option<&str>) -> std::io::Result<()> {
        std::fs::create_dir_all(svg_dir)?;
        let rel = svg_dir
            .strip_prefix(md.parent().unwrap_or(Path::new("")))
            .unwrap_or(svg_dir)
            .to_path_buf();
        let mut plots = Vec::new();
        for (file, body) in self.plots() {
            std::fs::write(svg_dir.join(&file), body)?;
            plots.push(format!("{}/{}", rel.display(), file));
        }
        std::fs::write(md, self.markdown(&plots, notes))
    }

    fn plots(&self) -> Vec<(String, String)> {
        let names = self.names();
        let wls = self.workloads();
        let cats: Vec<String> = wls.iter().map(|s| s.to_string()).collect();
        let values: Vec<Vec<Option<f64>>> = names
            .iter()
            .map(|e| wls.iter().map(|w| self.ops(e, w)).collect())
            .collect();
        let mut out = vec![(
            "throughput.svg".to_string(),
            svg::bars(
                "Throughput per workload (log scale, higher is better)",
                "ops/s",
                &cats,
                &names,
                &values,
                Scale::Log,
            ),
        )];
        let pct = ["p50", "p95", "p99", "p99.9", "max"];
        let pcats: Vec<String> = pct.iter().map(|s| s.to_string()).collect();
        for w in ["fillrandom", "readrandom", "readmissing", "fillsync-8t"] {
            let vals: Vec<Vec<Option<f64>>> = names
                .iter()
                .map(|e| {
                    let l = self
                        .engine(e)
                        .and_then(|r| r.workload(w))
                        .map(|r| r.latency.clone());
                    match l {
                        Some(l) => [l.p50_us, l.p95_us, l.p99_us, l.p999_us, l.max_us]
                            .into_iter()
                            .map(Some)
                            .collect(),
                        None => vec![None; 5],
                    }
                })
                .collect();
            if vals.iter().flatten().all(Option::is_none) {
                continue;
            }
            out.push((
                format!("latency-{w}.svg"),
                svg::bars(
                    &format!("{w}: latency percentiles (log scale, lower is better)"),
                    "µs",
                    &pcats,
                    &names,
                    &vals,
                    Scale::Log,
                ),
            ));
        }
        let tl_p99: Vec<Vec<(f64, f64)>> = self
            .engines
            .iter()
            .map(|e| progress(&e.timeline, |p| p.p99_us))
            .collect();
        let tl_ops: Vec<Vec<(f64, f64)>> = self
            .engines
            .iter()
            .map(|e| progress(&e.timeline, |p| p.ops_per_sec))
            .collect();
        if tl_p99.iter().any(|s| !s.is_empty()) {
            out.push((
                "fillrandom-p99-over-time.svg".into(),
                svg::lines(
                    "fillrandom: p99 write latency per interval (N/200 writes), log scale",
                    "% of the fill done",
                    "µs",
                    &names,
                    &tl_p99,
                    Scale::Log,
                ),
            ));
            out.push((
                "fillrandom-throughput-over-time.svg".into(),
                svg::lines(
                    "fillrandom: throughput per interval (N/200 writes)",
                    "% of the fill done",
                    "ops/s",
                    &names,
                    &tl_ops,
                    Scale::Linear,
                ),
            ));
        }
        out
    }

    fn ratio(&self, engine: &str, w: &str) -> Option<f64> {
        let base = self.ops(self.baseline()?, w)?;
        let v = self.ops(engine, w)?;
        (base > 0.0).then(|| v / base)
    }

    /// The Markdown report; `plots` are the SVG paths to embed.
    pub fn markdown(&self, plots: &[String], notes: Option<&str>) -> String {
        let mut s = String::new();
        let names = self.names();
        let base = self.baseline();
        let has_base = base.is_some();
        let base_name = base.unwrap_or("-");
        let _ = writeln!(s, "# Cairn benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `scripts/bench.sh` (the `cairn-bench` harness) on {}{}.\n",
            self.date,
            if self.commit.is_empty() {
                String::new()
            } else {
                format!(" from commit `{}`", self.commit)
            }
        );
        let _ = writeln!(
            s,
            "> **Absolute numbers are noisy.** This is a shared 2-core virtual machine: other \
             builds and tests run on the same cores and disk while the benchmark runs, and the \
             disk is virtual. Numbers move by tens of percent between runs. **The claim is the \
             ratios** between engines measured in the same run, one engine at a time, each in \
             its own process.\n"
        );
        let _ = writeln!(s, "## Machine\n");
        for l in &self.machine {
            let _ = writeln!(s, "- {l}");
        }
        if let Some(c) = &self.config {
            let _ = writeln!(s, "\n## Workloads\n");
            let _ = writeln!(
                s,
                "16-byte keys ({}), 100-byte values (half random, half repeated: compressible to ~50%, \
                 as db_bench's default), seed `{:#x}`. N = {} keys; {} lookups per read \
                 workload; {} seeks of {} entries; {} YCSB operations; {} durable writes per sync \
                 workload.\n",
                if c.ascii_keys {
                    "16 ASCII decimal digits, `--ascii-keys`"
                } else {
                    "db_bench's format: the number as 8 big-endian bytes + 8 `'0'` bytes"
                },
                c.seed,
                c.num,
                c.reads,
                c.seeks,
                c.scan_len,
                c.ycsb_ops,
                c.sync_num
            );
            let _ = writeln!(
                s,
                "| workload | what it does |\n|---|---|\n\
                 | fillseq | N puts in key order into an empty database (WAL on, not synced) |\n\
                 | fillrandom | N puts, every key once in a seeded random order, into an empty database |\n\
                 | overwrite | N puts of uniformly random existing keys (same database) |\n\
                 | readrandom | N gets of random present keys, 1 thread, after an untimed warm-up of N/2 gets (database settled: flushed, compactions done) |\n\
                 | readrandom-2t | the same with 2 threads (N gets in all) |\n\
                 | readmissing | N gets of absent keys that fall between present keys (the bloom filter answers) |\n\
                 | seekrandom | seek to a random key and read the next {} entries |\n\
                 | ycsb-a | 50% get / 50% put, scrambled Zipfian (θ = 0.99) keys, 1 thread |\n\
                 | ycsb-b | 95% get / 5% put, scrambled Zipfian keys, 1 thread |\n\
                 | fillsync-1t | durable puts (each synced before it returns), 1 writer, fresh database |\n\
                 | fillsync-8t | durable puts, 8 writer threads, fresh database |\n",
                c.scan_len
            );
        }
        let _ = writeln!(s, "## Settings (equal for every engine)\n");
        let _ = writeln!(
            s,
            "Cache budget 64 MiB; LZ4 block compression where the engine has it; 64 MiB \
             write buffer where the engine has one; bloom filters at 10 bits/key where the \
             engine has them; non-sync workloads write with the WAL (journal) on but not \
             synced; sync workloads use each engine's durable mode. Each engine runs in its own \
             child process (so peak RSS is per engine).\n"
        );
        for e in &self.engines {
            let _ = writeln!(s, "- **{}**: {}", e.engine, e.settings);
        }

        if let Some(p) = &self.physical {
            let _ = writeln!(s, "\n## Physical limits of this machine\n");
            let lat = |name: &str, l: &crate::measure::Latency| {
                format!(
                    "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                    l.p50_us,
                    l.mean_us,
                    l.p99_us,
                    l.max_us,
                    if l.p50_us > 0.0 { 1e6 / l.p50_us } else { 0.0 }
                )
            };
            let _ = writeln!(
                s,
                "fsync latency, {} iterations each, in the benchmark directory (µs):\n\n\
                 | probe | p50 | mean | p99 | max | 1 / p50 (ops/s) |\n|---|---:|---:|---:|---:|---:|\n{}{}{}",
                p.fsync_iterations,
                lat("4 KiB append + `fdatasync` (new block each time: journal commit)", &p.fsync),
                lat("128 B append + `fdatasync` (WAL-record sized)", &p.fsync_small_append),
                lat("4 KiB overwrite + `fdatasync` (preallocated: device flush only)", &p.fsync_overwrite),
            );
            let _ = writeln!(
                s,
                "- **fsync-bound limit** (1 / median 4 KiB append + `fdatasync`): **{:.0} durable ops/s** \
                 for one writer without group commit; **device-flush bound** (1 / median \
                 overwrite + `fdatasync`): **{:.0} ops/s**. The 4 KiB-append probe is the one the \
                 brief specifies; it allocates a block per sync and is slow and noisy on this \
                 shared disk. An append inside an allocated block (128 B) still changes the file \
                 size, which `fdatasync` persists through an ext4 journal commit: about twice an \
                 overwrite when the disk is idle, much more when other processes commit metadata. \
                 The device-flush bound is the real floor.",
                p.fsync_bound_ops, p.flush_bound_ops
            );
            let _ = writeln!(
                s,
                "- Sequential write bandwidth ({} MiB in 1 MiB writes + one `fdatasync`): **{:.0} MiB/s**.\n",
                p.seq_write_bytes >> 20,
                p.seq_write_mib_s
            );
            let sync: Vec<&str> = ["fillsync-1t", "fillsync-8t"]
                .into_iter()
                .filter(|w| self.engines.iter().any(|e| e.workload(w).is_some()))
                .collect();
            if !sync.is_empty() && p.fsync_bound_ops > 0.0 {
                let _ = writeln!(
                    s,
                    "Sync workloads as a multiple of the fsync-bound limit / of the device-flush \
                     bound (above 1.0 of the latter only with group commit, where one fsync covers \
                     several writers):\n"
                );
                let _ = write!(s, "| engine |");
                for w in &sync {
                    let _ = write!(s, " {w} |");
                }
                let _ = write!(s, "\n|---|");
                for _ in &sync {
                    let _ = write!(s, "---:|");
                }
                let _ = writeln!(s);
                for e in &names {
                    let _ = write!(s, "| {e} |");
                    for w in &sync {
                        match self.ops(e, w) {
                            Some(v) => {
                                let _ = write!(
                                    s,
                                    " {} ops/s = {:.2}× / {:.2}× |",
                                    human(v),
                                    v / p.fsync_bound_ops,
                                    v / p.flush_bound_ops.max(1e-9)
                                );
                            }
                            None => {
                                let _ = write!(s, " – |");
                            }
                        }
                    }
                    let _ = writeln!(s);
                }
            }
        }

        let _ = writeln!(
            s,
            "\n## Throughput (ops/s{})\n",
            if has_base {
                format!("; ratio to {base_name} in parentheses")
            } else {
                String::new()
            }
        );
        if has_base && base != Some("rocksdb") {
            let _ = writeln!(
                s,
                "**This run has no RocksDB result**, so ratios are to **{base_name}**, not to \
                 RocksDB; the RocksDB targets are not evaluated.\n"
            );
        }
        let _ = write!(s, "| workload |");
        for e in &names {
            let _ = write!(s, " {e} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in &names {
            let _ = write!(s, "---:|");
        }
        let _ = writeln!(s);
        for w in self.workloads() {
            let _ = write!(s, "| {w} |");
            for e in &names {
                match (self.ops(e, w), self.ratio(e, w)) {
                    (Some(v), Some(r)) if has_base => {
                        let _ = write!(s, " {} ({r:.2}×) |", human(v));
                    }
                    (Some(v), _) => {
                        let _ = write!(s, " {} |", human(v));
                    }
                    _ => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            let _ = writeln!(s);
        }
        // Space and memory rows.
        let _ = write!(s, "| space amplification (disk / live) |");
        for e in &names {
            match self.engine(e).and_then(|r| r.space.as_ref()) {
                Some(sp) => {
                    let _ = write!(s, " {:.3} |", sp.amplification);
                }
                None => {
                    let _ = write!(s, " – |");
                }
            }
        }
        let _ = write!(s, "\n| peak RSS (MiB) |");
        for e in &names {
            match self.engine(e) {
                Some(r) if r.peak_rss_kib > 0 => {
                    let _ = write!(s, " {:.0} |", r.peak_rss_kib as f64 / 1024.0);
                }
                _ => {
                    let _ = write!(s, " – |");
                }
            }
        }
        let _ = writeln!(s);
        for e in &self.engines {
            if let Some(err) = &e.error {
                let _ = writeln!(
                    s,
                    "\n**{} failed**: {err} (later workloads skipped)",
                    e.engine
                );
            }
        }

        if base == Some("rocksdb") && self.engine("cairn").is_some() {
            let _ = writeln!(s, "\n### Targets (Cairn / RocksDB, same run)\n");
            let _ = writeln!(
                s,
                "| target | wanted | measured | met |\n|---|---:|---:|:---:|"
            );
            for (w, want) in TARGETS {
                if *w == "space" {
                    let sp = |e: &str| {
                        self.engine(e)
                            .and_then(|r| r.space.as_ref())
                            .map(|s| s.amplification)
                    };
                    if let (Some(c), Some(r)) = (sp("cairn"), sp("rocksdb")) {
                        let ratio = c / r.max(1e-9);
                        let _ = writeln!(
                            s,
                            "| space amplification | ≤ {want:.1}× | {ratio:.2}× (Cairn {c:.3}, RocksDB {r:.3}) | {} |",
                            if ratio <= *want { "yes" } else { "**no**" }
                        );
                    }
                } else if let Some(r) = self.ratio("cairn", w) {
                    let _ = writeln!(
                        s,
                        "| {w} | ≥ {want:.1}× | {r:.2}× | {} |",
                        if r >= *want { "yes" } else { "**no**" }
                    );
                }
            }
        }

        let _ = writeln!(s, "\n## Latency (µs) and CPU\n");
        let _ = writeln!(
            s,
            "CPU seconds are user + system time of the engine's process during the workload, \
             background threads included.\n"
        );
        let _ = writeln!(
            s,
            "| workload | engine | ops/s | p50 | p95 | p99 | p99.9 | max | CPU s | CPU µs/op |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for w in self.workloads() {
            for e in &self.engines {
                if let Some(r) = e.workload(w) {
                    let l = &r.latency;
                    let _ = writeln!(
                        s,
                        "| {w} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} | {:.2} | {:.2} |",
                        e.engine,
                        human(r.ops_per_sec),
                        l.p50_us,
                        l.p95_us,
                        l.p99_us,
                        l.p999_us,
                        l.max_us,
                        r.cpu_secs,
                        r.cpu_secs * 1e6 / r.ops.max(1) as f64
                    );
                }
            }
        }

        let _ = writeln!(s, "\n## Space after the fills\n");
        let _ = writeln!(
            s,
            "After fillrandom + overwrite, each engine flushed and waited for its compactions \
             (RocksDB `flush` + `wait_for_compact`, Cairn `flush` + \
             `wait_for_background_work`, fjall `rotate_memtable_and_wait` + no compaction for \
             1 s, redb a durable commit, sled `flush`). Live logical bytes = N × 116.\n"
        );
        let _ = writeln!(
            s,
            "| engine | on disk (MiB, allocated blocks) | apparent (MiB) | live (MiB) | amplification | settle s |\n|---|---:|---:|---:|---:|---:|"
        );
        for e in &self.engines {
            if let Some(sp) = &e.space {
                let mib = |b: u64| b as f64 / 1048576.0;
                let _ = writeln!(
                    s,
                    "| {} | {:.1} | {:.1} | {:.1} | {:.3} | {:.1} |",
                    e.engine,
                    mib(sp.disk_bytes),
                    mib(sp.apparent_bytes),
                    mib(sp.logical_bytes),
                    sp.amplification,
                    sp.settle_secs
                );
            }
        }

        if let Some(a) = &self.alloc {
            let _ = writeln!(s, "\n## Heap allocations (Cairn)\n");
            let _ = writeln!(
                s,
                "Counted by a counting global allocator over {} operations each (`cargo run \
                 --release -p cairn-bench -- --alloc`):\n",
                a.ops
            );
            let _ = writeln!(
                s,
                "| operation | allocations / op | bytes / op |\n|---|---:|---:|\n\
                 | `put_with(NO_SYNC)` | {:.2} | {:.0} |\n\
                 | `get` (memtable hit) | {:.2} | |\n\
                 | `get` (table, cached blocks) | {:.2} | {:.0} |\n\
                 | `get` (absent key) | {:.2} | |",
                a.per_put,
                a.bytes_per_put,
                a.per_get_memtable,
                a.per_get_cached,
                a.bytes_per_get_cached,
                a.per_get_missing
            );
        }

        if !self.micro.is_empty() {
            let _ = writeln!(
                s,
                "\n## Micro-benchmarks (criterion, `cargo bench -p cairn-bench`)\n"
            );
            let _ = writeln!(
                s,
                "Medians. Inputs: 100k-entry memtables and tables of db_bench keys and 100-byte \
                 values; the SSTable is in a `MemVfs` with every block cached.\n"
            );
            let _ = writeln!(s, "| benchmark | time | throughput |\n|---|---:|---:|");
            for (n, t, th) in &self.micro {
                let _ = writeln!(s, "| {n} | {t} | {th} |");
            }
        }

        if !plots.is_empty() {
            let _ = writeln!(s, "\n## Plots\n");
            for p in plots {
                let _ = writeln!(s, "![{p}]({p})\n");
            }
        }

        if let Some(n) = notes {
            let _ = writeln!(s, "\n{}", n.trim_end());
        }

        let _ = writeln!(s, "\n## How to run\n");
        let _ = writeln!(
            s,
            "```sh\n\
             # Everything (micro-benchmarks are separate, see below); peers included, N = 1M:\n\
             scripts/bench.sh\n\
             # Smaller or Cairn-only:\n\
             N=100000 scripts/bench.sh\n\
             ENGINES=cairn scripts/bench.sh\n\
             \n\
             # The harness by hand. Default features build Cairn only:\n\
             cargo run --release -p cairn-bench -- --engines cairn --num 1000000\n\
             # With the peers (RocksDB's C++ build takes ~30 min on 2 cores, needs clang/libclang):\n\
             apt-get install -y clang libclang-dev   # once\n\
             cargo run --release -p cairn-bench --features peers -- \\\n    \
             --engines cairn,rocksdb,fjall,redb,sled --num 1000000 --sync-num 20000 \\\n    \
             --json target/bench/results.json --report docs/BENCHMARKS.md\n\
             # Only some workloads, e.g. reads:\n\
             cargo run --release -p cairn-bench -- --engines cairn --only readrandom,readmissing\n\
             # Allocation counts per put / get (Cairn):\n\
             cargo run --release -p cairn-bench -- --alloc\n\
             # Re-render the report from saved results:\n\
             cargo run --release -p cairn-bench -- --render target/bench/results.json --report docs/BENCHMARKS.md\n\
             \n\
             # Criterion micro-benchmarks (memtable, WAL, block, bloom, SST get, merging iterator):\n\
             cargo bench -p cairn-bench\n\
             ```"
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_output() {
        let text = "\
memtable/insert_random_100k
                        time:   [378.63 ns 392.73 ns 406.94 ns]
                        thrpt:  [2.4574 Melem/s 2.5463 Melem/s 2.6411 Melem/s]
Found 2 outliers among 30 measurements (6.67%)
bloom/probe_hit         time:   [21.815 ns 22.257 ns 22.732 ns]
                        thrpt:  [43.991 Melem/s 44.930 Melem/s 45.840 Melem/s]
";
        let m = parse_criterion(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, "memtable/insert_random_100k");
        assert_eq!(m[0].1, "392.73 ns");
        assert_eq!(m[0].2, "2.5463 Melem/s");
        assert_eq!(
            m[1],
            (
                "bloom/probe_hit".into(),
                "22.257 ns".into(),
                "44.930 Melem/s".into()
            )
        );
    }
}
