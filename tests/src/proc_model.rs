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
    Options {
        write_buffer_size: 64 << 10,
        target_table_size: 32 << 10,
        base_level_size: 128 << 10,
        max_manifest_size: 4 << 10,
        l0_compaction_trigger: 2,
        background_threads: 1,
        ..Options::default()
    }
}
