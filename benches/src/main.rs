//! `cairn-bench`: the db_bench-style comparison harness.
//!
//! The parent process probes the machine (fsync latency, write bandwidth), counts Cairn's
//! allocations, then re-executes itself once per engine (`--engine X`), so that each engine's
//! peak RSS and CPU time are its own, collects the children's JSON results and writes the
//! report. Run with `--help` for the options.

use cairn_bench::alloc_count::{self, CountingAlloc};
use cairn_bench::engines;
use cairn_bench::measure;
use cairn_bench::report::{self, RunReport};
use cairn_bench::run::{self, Config};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const HELP: &str = "\
cairn-bench: compare Cairn with RocksDB, fjall, redb and sled (db_bench-style workloads)

USAGE: cargo run --release -p cairn-bench [--features peers] -- [OPTIONS]

  --engines LIST     engines to run, comma-separated (default: every engine in this build)
  --num N            keys written by the fills (default 1000000)
  --sync-num N       durable writes per sync workload (default 20000)
  --reads N          gets per read workload (default N)
  --seeks N          seeks in seekrandom (default N/20)
  --ycsb-ops N       operations per YCSB workload (default N)
  --seed S           seed of every generator
  --ascii-keys       keys as 16 ASCII digits (shared 9+ byte prefix) instead of db_bench's
                     8 big-endian bytes + 8 padding bytes
  --only LIST        run only these workloads (prefix match), e.g. readrandom,fillsync
  --dir PATH         where databases are created (default target/bench/db)
  --json PATH        write all results as JSON (default target/bench/results.json)
  --report PATH      write the Markdown report (plots go to <report dir>/benchmarks/)
  --notes PATH       Markdown appended to the report (profiling findings)
  --micro PATH       criterion output (`cargo bench -p cairn-bench`) to summarize in the report
  --fsync-iters N    iterations of the fsync probe (default 200)
  --no-probe         skip the fsync / bandwidth probe
  --no-alloc         skip the allocation count
  --alloc            only count Cairn's allocations per put / get and print them
  --render JSON      only re-render --report from a saved results JSON
  --engine NAME      (internal) run one engine in this process
  --json-out PATH    (internal) where --engine writes its result
";

struct Args {
    engines: Vec<String>,
    cfg: Config,
    dir: PathBuf,
    json: PathBuf,
    report: Option<PathBuf>,
    notes: Option<PathBuf>,
    micro: Option<PathBuf>,
    fsync_iters: u32,
    probe: bool,
    alloc: bool,
    alloc_only: bool,
    render: Option<PathBuf>,
    engine: Option<String>,
    json_out: Option<PathBuf>,
    config_json: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        engines: engines::available().iter().map(|s| s.to_string()).collect(),
        cfg: Config::new(1_000_000),
        dir: PathBuf::from("target/bench/db"),
        json: PathBuf::from("target/bench/results.json"),
        report: None,
        notes: None,
        micro: None,
        fsync_iters: 200,
        probe: true,
        alloc: true,
        alloc_only: false,
        render: None,
        engine: None,
        json_out: None,
        config_json: None,
    };
    let mut reads = None;
    let mut seeks = None;
    let mut ycsb = None;
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, flag: &str| -> Result<u64, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.replace('_', "")
            .parse()
            .map_err(|_| format!("{flag}: not a number: {v}"))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--engines" => {
                a.engines = it
                    .next()
                    .ok_or("--engines needs a list")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--num" => a.cfg.num = num(it.next(), &flag)?,
            "--sync-num" => a.cfg.sync_num = num(it.next(), &flag)?,
            "--reads" => reads = Some(num(it.next(), &flag)?),
            "--seeks" => seeks = Some(num(it.next(), &flag)?),
            "--ycsb-ops" => ycsb = Some(num(it.next(), &flag)?),
            "--seed" => a.cfg.seed = num(it.next(), &flag)?,
            "--fsync-iters" => a.fsync_iters = num(it.next(), &flag)? as u32,
            "--only" => {
                a.cfg.only = it
                    .next()
                    .ok_or("--only needs a list")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--dir" => a.dir = it.next().ok_or("--dir needs a path")?.into(),
            "--json" => a.json = it.next().ok_or("--json needs a path")?.into(),
            "--report" => a.report = Some(it.next().ok_or("--report needs a path")?.into()),
            "--notes" => a.notes = Some(it.next().ok_or("--notes needs a path")?.into()),
            "--micro" => a.micro = Some(it.next().ok_or("--micro needs a path")?.into()),
            "--no-probe" => a.probe = false,
            "--ascii-keys" => a.cfg.ascii_keys = true,
            "--no-alloc" => a.alloc = false,
            "--alloc" => a.alloc_only = true,
            "--render" => a.render = Some(it.next().ok_or("--render needs a path")?.into()),
            "--engine" => a.engine = Some(it.next().ok_or("--engine needs a name")?),
            "--json-out" => a.json_out = Some(it.next().ok_or("--json-out needs a path")?.into()),
            "--config-json" => a.config_json = Some(it.next().ok_or("--config-json needs JSON")?),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let n = a.cfg.num;
    a.cfg.reads = reads.unwrap_or(n);
    a.cfg.seeks = seeks.unwrap_or((n / 20).max(1));
    a.cfg.ycsb_ops = ycsb.unwrap_or(n);
    Ok(a)
}

fn log(s: &str) {
    eprintln!("{s}");
}

fn write_report(
    r: &RunReport,
    md: &Path,
    notes: Option<&Path>,
    micro: Option<&Path>,
) -> Result<(), String> {
    let mut r = r.clone();
    if let Some(p) = micro {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        r.micro = report::parse_criterion(&text);
    }
    let notes = match notes {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let svg_dir = md.parent().unwrap_or(Path::new(".")).join("benchmarks");
    r.write(md, &svg_dir, notes.as_deref())
        .map_err(|e| e.to_string())?;
    log(&format!("report written to {}", md.display()));
    Ok(())
}

fn child(a: &Args, engine: &str) -> Result<(), String> {
    let cfg: Config = match &a.config_json {
        Some(j) => serde_json::from_str(j).map_err(|e| e.to_string())?,
        None => a.cfg.clone(),
    };
    let dir = a.dir.join(engine);
    let r = run::run_engine(engine, &dir, &cfg, &log);
    let _ = std::fs::remove_dir_all(&dir);
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    match &a.json_out {
        Some(p) => std::fs::write(p, json).map_err(|e| e.to_string()),
        None => {
            println!("{json}");
            Ok(())
        }
    }
}

fn parent(a: &Args) -> Result<(), String> {
    for e in &a.engines {
        if !engines::available().contains(&e.as_str()) {
            return Err(format!(
                "engine {e:?} is not in this build (available: {}); build with --features peers",
                engines::available().join(", ")
            ));
        }
    }
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let (date, machine) = report::machine();
    let mut rep = RunReport {
        date,
        machine,
        config: Some(a.cfg.clone()),
        commit: std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        ..Default::default()
    };
    if a.probe {
        log("probing fsync latency and sequential write bandwidth ...");
        let p = measure::probe_physical(&a.dir, a.fsync_iters, 256 << 20)
            .map_err(|e| format!("physical probe: {e}"))?;
        log(&format!(
            "fsync p50: 4 KiB append {:.0} µs, 128 B append {:.0} µs, 4 KiB overwrite {:.0} µs \
             → bounds {:.0} / {:.0} ops/s; sequential write {:.0} MiB/s",
            p.fsync.p50_us,
            p.fsync_small_append.p50_us,
            p.fsync_overwrite.p50_us,
            p.fsync_bound_ops,
            p.flush_bound_ops,
            p.seq_write_mib_s
        ));
        rep.physical = Some(p);
    }
    if a.alloc && a.engines.iter().any(|e| e == "cairn") {
        let d = a.dir.join("alloc");
        let _ = std::fs::remove_dir_all(&d);
        let r = alloc_count::measure_cairn(&d, 20_000)?;
        let _ = std::fs::remove_dir_all(&d);
        log(&format!("allocations: {r:?}"));
        rep.alloc = Some(r);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let cfg_json = serde_json::to_string(&a.cfg).map_err(|e| e.to_string())?;
    for e in &a.engines {
        log(&format!("=== {e} ==="));
        let out = a.dir.join(format!("{e}.json"));
        let _ = std::fs::remove_file(&out);
        let status = Command::new(&exe)
            .arg("--engine")
            .arg(e)
            .arg("--dir")
            .arg(&a.dir)
            .arg("--config-json")
            .arg(&cfg_json)
            .arg("--json-out")
            .arg(&out)
            .status()
            .map_err(|err| format!("cannot start {}: {err}", exe.display()))?;
        let r = std::fs::read_to_string(&out)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| run::EngineResult {
                engine: e.clone(),
                settings: engines::settings(e).to_string(),
                error: Some(format!("child process failed: {status}")),
                ..Default::default()
            });
        let _ = std::fs::remove_file(&out);
        rep.engines.push(r);
        // Save partial results after every engine.
        save(&rep, &a.json)?;
    }
    if let Some(md) = &a.report {
        write_report(&rep, md, a.notes.as_deref(), a.micro.as_deref())?;
    }
    Ok(())
}

fn save(rep: &RunReport, path: &Path) -> Result<(), String> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(rep).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let r = parse().and_then(|a| {
        if let Some(e) = a.engine.clone() {
            child(&a, &e)
        } else if a.alloc_only {
            let d = a.dir.join("alloc");
            let _ = std::fs::remove_dir_all(&d);
            let r = alloc_count::measure_cairn(&d, 20_000)?;
            let _ = std::fs::remove_dir_all(&d);
            println!(
                "{}",
                serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
            );
            Ok(())
        } else if let Some(j) = &a.render {
            let s = std::fs::read_to_string(j).map_err(|e| format!("{}: {e}", j.display()))?;
            let rep: RunReport = serde_json::from_str(&s).map_err(|e| e.to_string())?;
            let md = a.report.clone().ok_or("--render needs --report PATH")?;
            write_report(&rep, &md, a.notes.as_deref(), a.micro.as_deref())
        } else {
            parent(&a)
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
