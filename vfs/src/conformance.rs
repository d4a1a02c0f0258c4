//! A conformance suite every [`Vfs`] implementation must pass. `MemVfs`, `StdVfs`, `FaultVfs`
//! and the browser's OPFS VFS all run it from their tests, so the engine can rely on the same
//! semantics everywhere.
//!
//! Each check returns `Err(description)` instead of panicking so that it can run in
//! environments where a panic aborts the whole test binary (WASI, browsers).

use crate::{current, ErrorKind, File, Vfs};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn io<T>(r: crate::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

type Check<V> = (&'static str, fn(&V) -> Result<(), String>);

/// Runs every check on an empty directory. Returns the number of checks passed.
pub fn run<V: Vfs>(vfs: &V) -> Result<usize, String> {
    let checks: [Check<V>; 6] = [
        ("files", files::<V>),
        ("positional_io", positional_io::<V>),
        ("truncate_and_len", truncate_and_len::<V>),
        ("directory", directory::<V>),
        ("current_pointer", current_pointer::<V>),
        ("lock", lock::<V>),
    ];
    for (name, check) in checks.iter() {
        check(vfs).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(checks.len())
}

fn files<V: Vfs>(vfs: &V) -> Result<(), String> {
    ensure!(!io(vfs.exists("c-a.bin"), "exists")?, "fresh file exists");
    let f = io(vfs.create("c-a.bin"), "create")?;
    ensure!(io(f.len(), "len")? == 0, "new file not empty");
    ensure!(io(vfs.exists("c-a.bin"), "exists")?, "created file missing");
    match vfs.create("c-a.bin") {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        other => return Err(format!("second create: {:?}", other.map(|_| ()))),
    }
    match vfs.open("c-missing.bin") {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("open missing: {e}")),
        Ok(_) => return Err("open missing succeeded".to_string()),
    }
    io(f.write_at(0, b"hello"), "write")?;
    io(f.sync(), "sync")?;
    drop(f);
    let g = io(vfs.open("c-a.bin"), "reopen")?;
    let mut buf = [0u8; 5];
    io(g.read_exact_at(0, &mut buf), "read")?;
    ensure!(&buf == b"hello", "reopened bytes differ: {buf:?}");
    io(vfs.remove("c-a.bin"), "remove")?;
    ensure!(!io(vfs.exists("c-a.bin"), "exists")?, "removed file exists");
    match vfs.remove("c-a.bin") {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => return Err(format!("second remove: {other:?}")),
    }
    match vfs.create("../escape") {
        Err(e) if e.kind() == ErrorKind::InvalidName => {}
        other => return Err(format!("bad name accepted: {:?}", other.map(|_| ()))),
    }
    Ok(())
}

fn positional_io<V: Vfs>(vfs: &V) -> Result<(), String> {
    let f = io(vfs.create("c-b.bin"), "create")?;
    io(f.write_at(0, &[1u8; 100]), "write")?;
    io(f.write_at(50, &[2u8; 100]), "overwrite")?;
    // A write past the end leaves a gap that reads as zeros.
    io(f.write_at(300, &[3u8; 10]), "write past end")?;
    ensure!(io(f.len(), "len")? == 310, "len after gap write");
    let all = io(f.read_all(), "read_all")?;
    let mut want = vec![1u8; 50];
    want.extend_from_slice(&[2u8; 100]);
    want.extend_from_slice(&[0u8; 150]);
    want.extend_from_slice(&[3u8; 10]);
    ensure!(all == want, "contents differ after positional writes");
    let mut buf = [0u8; 20];
    match f.read_exact_at(300, &mut buf) {
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        other => return Err(format!("short read: {other:?}")),
    }
    // Two handles see each other's writes.
    let g = io(vfs.open("c-b.bin"), "open second handle")?;
    io(g.write_at(0, b"xy"), "write via second")?;
    let mut two = [0u8; 2];
    io(f.read_exact_at(0, &mut two), "read via first")?;
    ensure!(&two == b"xy", "handles disagree");
    // A large write and read back.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    io(f.write_at(1000, &big), "large write")?;
    let mut back = vec![0u8; big.len()];
    io(f.read_exact_at(1000, &mut back), "large read")?;
    ensure!(back == big, "large round trip differs");
    io(f.sync(), "sync")?;
    drop((f, g));
    io(vfs.remove("c-b.bin"), "remove")?;
    Ok(())
}

fn truncate_and_len<V: Vfs>(vfs: &V) -> Result<(), String> {
    let f = io(vfs.create("c-c.bin"), "create")?;
    io(f.write_at(0, &[9u8; 4096]), "write")?;
    io(f.truncate(100), "shrink")?;
    ensure!(io(f.len(), "len")? == 100, "len after shrink");
    io(f.truncate(200), "extend")?;
    let all = io(f.read_all(), "read_all")?;
    ensure!(all.len() == 200, "len after extend");
    ensure!(all[..100].iter().all(|&b| b == 9), "kept bytes changed");
    ensure!(all[100..].iter().all(|&b| b == 0), "extension not zeros");
    io(f.truncate(0), "truncate to zero")?;
    ensure!(io(f.is_empty(), "is_empty")?, "not empty");
    drop(f);
    io(vfs.remove("c-c.bin"), "remove")?;
    Ok(())
}

fn directory<V: Vfs>(vfs: &V) -> Result<(), String> {
    let before = io(vfs.list(), "list")?;
    let names = ["c-d1.bin", "c-d2.bin", "c-d3.bin"];
    for n in names {
        io(vfs.create(n), "create")?;
    }
    io(vfs.sync_dir(), "sync_dir")?;
    let mut now = io(vfs.list(), "list")?;
    now.retain(|n| !before.contains(n));
    now.sort();
    ensure!(now == names, "list shows {now:?}");
    for n in names {
        io(vfs.remove(n), "remove")?;
    }
    io(vfs.sync_dir(), "sync_dir")?;
    let after = io(vfs.list(), "list")?;
    ensure!(
        names.iter().all(|n| !after.iter().any(|a| a == n)),
        "removed names still listed"
    );
    Ok(())
}

fn current_pointer<V: Vfs>(vfs: &V) -> Result<(), String> {
    let mut cur = io(current::create(vfs, 7), "create pointer")?;
    for m in 8..12 {
        cur = io(current::switch(vfs, &cur, m), "switch")?;
        let back = current::read(vfs).map_err(|e| format!("read pointer: {e:?}"))?;
        ensure!(
            back.manifest == m,
            "pointer reads {} not {m}",
            back.manifest
        );
    }
    io(vfs.remove(current::SLOT_A), "remove slot")?;
    io(vfs.remove(current::SLOT_B), "remove slot")?;
    Ok(())
}

fn lock<V: Vfs>(vfs: &V) -> Result<(), String> {
    let guard = io(vfs.lock(), "first lock")?;
    match vfs.lock() {
        Err(e) if e.kind() == ErrorKind::Locked => {}
        Err(e) => return Err(format!("second lock: wrong error {e}")),
        Ok(_) => return Err("second lock succeeded".to_string()),
    }
    drop(guard);
    let again = io(vfs.lock(), "lock after release")?;
    drop(again);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn mem_vfs_conforms() {
        let vfs = crate::MemVfs::new();
        assert_eq!(super::run(&vfs), Ok(6));
    }
}
