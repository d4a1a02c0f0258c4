//! A three-node replicated key-value service on 127.0.0.1, on Cairn stores.
//!
//! ```text
//! cargo run --release -p cairn-raft --example kvcluster -- cluster [--dir DIR] [--port 21001]
//! curl -XPUT 127.0.0.1:21001/kv/hello -d world     # any node; followers forward to the leader
//! curl 127.0.0.1:21002/kv/hello                    # linearizable read (read index)
//! curl -XDELETE 127.0.0.1:21003/kv/hello
//! curl 127.0.0.1:21001/status                      # openraft metrics as JSON
//!
//! cargo run --release -p cairn-raft --example kvcluster -- bench [--seconds 5] [--entries 1000000] [--recovery-only]
//! ```

mod bench;
mod http;
mod memstore;
mod service;

use openraft::BasicNode;
use service::{Node, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Starts nodes 1..=3 in this process on `port..port+2` with storage under `dir`, and
/// initializes the cluster (a no-op when it already is, e.g. after a restart).
pub async fn start_cluster(
    dir: &std::path::Path,
    port: u16,
    store: Store,
) -> Result<Vec<Arc<Node>>, String> {
    let mut nodes = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let addr = format!("127.0.0.1:{}", port + id as u16 - 1);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("bind {addr}: {e}"))?;
        let node_dir = dir.join(format!("node-{id}"));
        std::fs::create_dir_all(&node_dir).map_err(|e| e.to_string())?;
        nodes.push(Node::start(id, &node_dir, store, listener).await?);
        members.insert(id, BasicNode::new(addr));
    }
    if !nodes[0]
        .raft
        .is_initialized()
        .await
        .map_err(|e| e.to_string())?
    {
        nodes[0]
            .raft
            .initialize(members)
            .await
            .map_err(|e| e.to_string())?;
    }
    for _ in 0..100 {
        if nodes[0].raft.current_leader().await.is_some() {
            return Ok(nodes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("no leader elected within 5 s".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let r = rt.block_on(async {
        match args.first().map(String::as_str) {
            Some("cluster") => {
                let dir = PathBuf::from(arg(&args, "--dir").unwrap_or_else(|| "kvcluster-data".into()));
                let port: u16 = arg(&args, "--port").and_then(|p| p.parse().ok()).unwrap_or(21001);
                let nodes = start_cluster(&dir, port, Store::Cairn).await?;
                let leader = nodes[0].raft.current_leader().await;
                println!(
                    "3 nodes up on 127.0.0.1:{port}..{} (data in {}), leader: node {}",
                    port + 2,
                    dir.display(),
                    leader.map_or("?".into(), |l| l.to_string())
                );
                println!("try: curl -XPUT 127.0.0.1:{port}/kv/hello -d world; curl 127.0.0.1:{}/kv/hello", port + 1);
                std::future::pending::<()>().await;
                Ok(())
            }
            Some("bench") => bench::run(&args).await,
            _ => Err("usage: kvcluster cluster [--dir DIR] [--port P] | bench [--seconds S] [--entries N] [--recovery-only]".to_string()),
        }
    });
    if let Err(e) = r {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
