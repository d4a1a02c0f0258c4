//! The write pattern of the process-kill test (`crash_child` and `tests/kill_process.rs`):
//! write `c` of thread `t` is a deterministic batch, so the state after any per-thread
//! prefix of writes can be recomputed.

use cairn::Options;
use std::collections::BTreeMap;

/// The key holding the number of thread `t`'s last write.
pub fn key_last(t: u32) -> Vec<u8> {
    format!("t{t}-last").into_bytes()
}

/// The value written by write `c` to its data key.
pub fn value(c: u64) -> Vec<u8> {
    let mut v = format!("{c}:").into_bytes();
    v.resize(v.len() + (c % 200) as usize, b'a' + (c % 26) as u8);
    v
}

/// The operations of write `c` of thread `t`, in order.
pub fn batch_ops(t: u32, c: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut ops = vec![
        (key_last(t), Some(c.to_string().into_bytes())),
        (format!("t{t}-k{:02}", c % 16).into_bytes(), Some(value(c))),
    ];
    if c.is_multiple_of(5) {
        ops.push((format!("t{t}-k{:02}", (c + 8) % 16).into_bytes(), None));
    }
    ops
}

/// Thread `t`'s keys after its writes `1..=n`.
pub fn state_after(t: u32, n: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for c in 1..=n {
        for (k, v) in batch_ops(t, c) {
            match v {
                Some(v) => {
                    m.insert(k, v);
                }
                None => {
                    m.remove(&k);
                }
            }
        }
    }
    m
}

/// Small sizes so that flushes and compactions run while the child is killed.
pub fn child_options() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_table_size(32 << 10)
        .base_level_size(128 << 10)
        .max_manifest_size(4 << 10)
        .l0_compaction_trigger(2)
        .background_threads(1)
}

/// One line of the writer protocol (see `crash_child`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Thread resumes after its write `c`.
    Start(u32, u64),
    /// Thread is about to commit write `c`.
    Issue(u32, u64),
    /// Write `c` returned Ok; synced or not.
    Ack(u32, u64, bool),
}

impl Line {
    /// Parses `start T C`, `issue T C` or `ack T C S`.
    pub fn parse(line: &str) -> Option<Line> {
        let mut it = line.split(' ');
        let tag = it.next()?;
        let t: u32 = it.next()?.parse().ok()?;
        let c: u64 = it.next()?.parse().ok()?;
        match tag {
            "start" => Some(Line::Start(t, c)),
            "issue" => Some(Line::Issue(t, c)),
            "ack" => Some(Line::Ack(t, c, it.next()? == "1")),
            _ => None,
        }
    }
}

/// Per-thread bounds on what a recovery may return.
#[derive(Debug, Default, Clone)]
pub struct Bounds {
    /// Writes `1..=must[t]` of thread `t` must have survived.
    pub must: BTreeMap<u32, u64>,
    /// Thread `t` issued writes up to `issued[t]`.
    pub issued: BTreeMap<u32, u64>,
    /// Acknowledgements seen.
    pub acks: u64,
}

/// Derives the bounds from the protocol lines (in the order they were printed) and what
/// the previous recovery returned (`prev`).
///
/// A synced acknowledgement of write `c` covers write `c` and every write (of any thread)
/// acknowledged before write `c` was issued: those were committed before it.
pub fn bounds(lines: &[Line], prev: &BTreeMap<u32, u64>) -> Bounds {
    let mut b = Bounds {
        must: prev.clone(),
        issued: prev.clone(),
        acks: 0,
    };
    let mut acked_so_far: BTreeMap<u32, u64> = BTreeMap::new();
    let mut at_issue: BTreeMap<(u32, u64), BTreeMap<u32, u64>> = BTreeMap::new();
    for l in lines {
        match *l {
            Line::Start(t, c) => {
                b.issued.insert(t, c);
                let e = b.must.entry(t).or_insert(0);
                *e = (*e).max(c);
            }
            Line::Issue(t, c) => {
                b.issued.insert(t, c);
                at_issue.insert((t, c), acked_so_far.clone());
            }
            Line::Ack(t, c, synced) => {
                b.acks += 1;
                acked_so_far.insert(t, c);
                if synced {
                    let e = b.must.entry(t).or_insert(0);
                    *e = (*e).max(c);
                    if let Some(before) = at_issue.get(&(t, c)) {
                        for (&u, &cu) in before {
                            let e = b.must.entry(u).or_insert(0);
                            *e = (*e).max(cu);
                        }
                    }
                }
            }
        }
    }
    b
}

/// Checks a recovered database (`all`: every key and value) against the bounds for
/// threads `0..threads`; returns each thread's recovered write number.
pub fn check_threads(
    all: &BTreeMap<Vec<u8>, Vec<u8>>,
    threads: u32,
    b: &Bounds,
) -> Result<BTreeMap<u32, u64>, String> {
    let mut out = BTreeMap::new();
    for t in 0..threads {
        let l = match all.get(&key_last(t)) {
            Some(v) => String::from_utf8_lossy(v)
                .parse::<u64>()
                .map_err(|e| format!("thread {t}: bad last value: {e}"))?,
            None => 0,
        };
        let want = state_after(t, l);
        let prefix = format!("t{t}-").into_bytes();
        let got: BTreeMap<_, _> = all
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if got != want {
            return Err(format!(
                "thread {t}: state is not the state after its writes 1..={l}"
            ));
        }
        let lo = b.must.get(&t).copied().unwrap_or(0);
        let hi = b.issued.get(&t).copied().unwrap_or(0);
        if l < lo {
            return Err(format!(
                "thread {t}: recovered through write {l}, but write {lo} was covered by an \
                 acknowledged sync"
            ));
        }
        if l > hi {
            return Err(format!("thread {t}: recovered write {l}, only {hi} issued"));
        }
        out.insert(t, l);
    }
    Ok(out)
}
