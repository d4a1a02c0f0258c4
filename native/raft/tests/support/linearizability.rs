//! A small linearizability checker for a key-value register model (Wing & Gong's search with
//! Lowe's memoization of (linearized set, register value)). Linearizability is local, so each
//! key's history is checked on its own.

use std::collections::{BTreeMap, HashSet};

/// Register values are write ids (unique per write); `None` is "absent".
pub type Value = Option<u64>;

/// What a client did on one key and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A read that returned the value.
    Read(Value),
    /// A write (`None` deletes).
    Write(Value),
    /// Compare-and-set; `ok` is the reported outcome, `None` if no answer came back.
    Cas {
        expected: Value,
        new: Value,
        ok: Option<bool>,
    },
}

/// One operation: invoked at `invoke`, answered at `complete` (`None`: no answer, so it may
/// have taken effect at any time after `invoke`, or never).
#[derive(Debug, Clone)]
pub struct Op {
    pub key: u64,
    pub invoke: u64,
    pub complete: Option<u64>,
    pub kind: Kind,
}

/// Checks every key; on failure names the key whose history is not linearizable.
pub fn check(history: &[Op]) -> Result<(), String> {
    let mut by_key: BTreeMap<u64, Vec<Op>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.key).or_default().push(op.clone());
    }
    for (key, mut ops) in by_key {
        ops.sort_by_key(|o| o.invoke);
        let mut search = Search {
            ops: &ops,
            seen: HashSet::new(),
            steps: 0,
        };
        let done = vec![0u64; ops.len().div_ceil(64)];
        match search.run(&done, None) {
            Some(true) => {}
            Some(false) => {
                return Err(format!(
                    "key {key}: history of {} operations is not linearizable: {ops:#?}",
                    ops.len()
                ))
            }
            None => return Err(format!("key {key}: search exceeded its step bound")),
        }
    }
    Ok(())
}

/// Most search steps per key before giving up (bounds the test's run time).
const MAX_STEPS: u64 = 5_000_000;

struct Search<'a> {
    ops: &'a [Op],
    seen: HashSet<(Vec<u64>, Value)>,
    steps: u64,
}

fn is_set(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

impl Search<'_> {
    /// `Some(true)` if the ops not in `done` can be linearized from register value `state`.
    fn run(&mut self, done: &[u64], state: Value) -> Option<bool> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return None;
        }
        // Every op answered before this is invoked must come first.
        let mut min_complete = u64::MAX;
        let mut all_answered_done = true;
        for (i, op) in self.ops.iter().enumerate() {
            if !is_set(done, i) {
                if let Some(c) = op.complete {
                    min_complete = min_complete.min(c);
                    all_answered_done = false;
                }
            }
        }
        if all_answered_done {
            return Some(true);
        }
        for (i, op) in self.ops.iter().enumerate() {
            if op.invoke > min_complete {
                break; // sorted by invoke
            }
            if is_set(done, i) {
                continue;
            }
            let next = match &op.kind {
                Kind::Read(v) => (*v == state).then_some(state),
                Kind::Write(v) => Some(*v),
                Kind::Cas { expected, new, ok } => {
                    let matches = *expected == state;
                    if ok.is_some_and(|ok| ok != matches) {
                        None
                    } else if matches {
                        Some(*new)
                    } else {
                        Some(state)
                    }
                }
            };
            let Some(next) = next else { continue };
            let mut d = done.to_vec();
            d[i / 64] |= 1 << (i % 64);
            if !self.seen.insert((d.clone(), next)) {
                continue;
            }
            if self.run(&d, next)? {
                return Some(true);
            }
        }
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: u64, complete: Option<u64>, kind: Kind) -> Op {
        Op {
            key: 0,
            invoke,
            complete,
            kind,
        }
    }

    #[test]
    fn accepts_concurrent_and_sequential_histories() {
        let h = vec![
            op(0, Some(10), Kind::Write(Some(1))),
            op(5, Some(15), Kind::Read(None)), // concurrent with the write: may precede it
            op(20, Some(30), Kind::Read(Some(1))),
            op(
                31,
                Some(40),
                Kind::Cas {
                    expected: Some(1),
                    new: Some(2),
                    ok: Some(true),
                },
            ),
            op(35, None, Kind::Write(Some(3))), // never answered
            op(50, Some(60), Kind::Read(Some(3))),
        ];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn rejects_a_stale_read() {
        let h = vec![
            op(0, Some(10), Kind::Write(Some(1))),
            op(11, Some(20), Kind::Write(Some(2))),
            op(21, Some(30), Kind::Read(Some(1))),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn rejects_a_lost_acknowledged_write_and_a_wrong_cas() {
        let lost = vec![
            op(0, Some(10), Kind::Write(Some(1))),
            op(20, Some(30), Kind::Read(None)),
        ];
        assert!(check(&lost).is_err());
        let cas = vec![
            op(0, Some(10), Kind::Write(Some(1))),
            op(
                20,
                Some(30),
                Kind::Cas {
                    expected: Some(1),
                    new: Some(2),
                    ok: Some(false),
                },
            ),
        ];
        assert!(check(&cas).is_err());
        // Two reads that disagree on the order of two writes.
        let order = vec![
            op(0, Some(100), Kind::Write(Some(1))),
            op(0, Some(100), Kind::Write(Some(2))),
            op(10, Some(20), Kind::Read(Some(1))),
            op(30, Some(40), Kind::Read(Some(2))),
            op(50, Some(60), Kind::Read(Some(1))),
        ];
        assert!(check(&order).is_err());
    }
}
