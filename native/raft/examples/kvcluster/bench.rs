//! `kvcluster bench`: replicated writes per second and latency percentiles with 1, 8 and 64
//! concurrent HTTP clients against the leader of a three-node 127.0.0.1 cluster, on Cairn and
//! on the in-memory store; then the recovery time of a node holding `--entries` applied
//! entries.

use crate::http::Client;
use crate::service::{raft_config, Network, Store};
use crate::{arg, start_cluster};
use cairn_raft::{Entry, Op, Request};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, LogId, Membership, Raft, Vote};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn load(addr: String, clients: usize, secs: f64) -> Result<(f64, u64, u64), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut client = Client::new(addr);
                let value = vec![b'v'; 100];
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let path = format!("/kv/bench-{c}-{i}");
                    let t = Instant::now();
                    match client.call("PUT", &path, None, &value).await {
                        Ok((200, _)) => lat.push(t.elapsed().as_micros() as u64),
                        Ok((s, b)) => {
                            return Err(format!("status {s}: {}", String::from_utf8_lossy(&b)))
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                    i += 1;
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    all.sort_unstable();
    Ok((
        all.len() as f64 / secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    ))
}

async fn throughput(store: Store, port: u16, secs: f64) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let nodes = start_cluster(dir.path(), port, store).await?;
    let leader = nodes[0].raft.current_leader().await.ok_or("no leader")?;
    let addr = format!("127.0.0.1:{}", port + leader as u16 - 1);
    for clients in [1usize, 8, 64] {
        load(addr.clone(), clients, 1.0).await?; // warm-up
        let (rate, p50, p99) = load(addr.clone(), clients, secs).await?;
        println!(
            "{:<6} clients {clients:>3}: {rate:>8.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            format!("{store:?}"),
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0
        );
    }
    for n in nodes {
        let _ = n.raft.shutdown().await;
    }
    Ok(())
}

fn log_id(index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// Writes `entries` applied entries (one 16-byte key, 100-byte value each) straight through
/// the adapter, as a single-node cluster would have, then restarts the node and times it.
async fn recovery(entries: u64) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let e = |e: cairn_raft::Error| e.to_string();
    let s = |e: openraft::StorageError<u64>| e.to_string();
    let t = Instant::now();
    {
        let (mut log, mut sm) = cairn_raft::open_path(dir.path()).map_err(e)?;
        let nodes: BTreeMap<u64, BasicNode> = [(1, BasicNode::new("127.0.0.1:0"))].into();
        let ids: BTreeSet<u64> = [1].into();
        // openraft's initialize() puts the first membership at index 0.
        let first = Entry {
            log_id: log_id(0),
            payload: EntryPayload::Membership(Membership::new(vec![ids], nodes)),
        };
        log.save_vote(&Vote::new_committed(1, 1)).await.map_err(s)?;
        log.blocking_append([first.clone()]).await.map_err(s)?;
        sm.apply([first]).await.map_err(s)?;
        let mut next = 1u64;
        while next <= entries {
            let batch: Vec<Entry> = (next..(next + 1000).min(entries + 1))
                .map(|i| Entry {
                    log_id: log_id(i),
                    payload: EntryPayload::Normal(Request {
                        ops: vec![Op::Put {
                            key: format!("key{i:013}").into_bytes(),
                            value: vec![b'v'; 100],
                        }],
                    }),
                })
                .collect();
            next += batch.len() as u64;
            log.blocking_append(batch.clone()).await.map_err(s)?;
            sm.apply(batch).await.map_err(s)?;
        }
        log.save_committed(Some(log_id(entries))).await.map_err(s)?;
        // Dropped without close: the restart below replays the write-ahead log.
    }
    println!(
        "recovery: wrote {entries} applied entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (log, sm) = cairn_raft::open_path(dir.path()).map_err(e)?;
    let opened = t.elapsed();
    let reader = sm.reader();
    let raft = Raft::new(1, raft_config(), Network, log, sm)
        .await
        .map_err(|e| e.to_string())?;
    let started = t.elapsed();
    raft.wait(Some(Duration::from_secs(30)))
        .metrics(
            |m| m.current_leader == Some(1) && m.last_applied.is_some_and(|l| l.index >= entries),
            "leader with everything applied",
        )
        .await
        .map_err(|e| e.to_string())?;
    raft.ensure_linearizable()
        .await
        .map_err(|e| e.to_string())?;
    let ready = t.elapsed();
    let probe = reader
        .get(format!("key{:013}", entries / 2).as_bytes())
        .map_err(e)?;
    if probe.is_none() {
        return Err("a written key is missing after recovery".into());
    }
    println!(
        "recovery of a node with {entries} applied entries: database open {:.0} ms, Raft::new {:.0} ms, \
         serving linearizable reads after {:.0} ms",
        opened.as_secs_f64() * 1e3,
        started.as_secs_f64() * 1e3,
        ready.as_secs_f64() * 1e3
    );
    let _ = raft.shutdown().await;
    Ok(())
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let secs: f64 = arg(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let entries: u64 = arg(args, "--entries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    if !args.iter().any(|a| a == "--recovery-only") {
        throughput(Store::Cairn, 22001, secs).await?;
        throughput(Store::Mem, 22011, secs).await?;
    }
    recovery(entries).await
}
