//! One node of the replicated key-value service: openraft over the HTTP transport, client
//! endpoints with leader forwarding, read-index reads, and write batching.

use crate::http::{self, Client, Response};
use crate::memstore::{MemLog, MemSm};
use cairn_raft::{KvReader, NodeId, Op, Request, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, Raft, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

/// Which storage a node runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Cairn,
    Mem,
}

enum Reader {
    Cairn(KvReader),
    Mem(MemSm),
}

impl Reader {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self {
            Reader::Cairn(r) => r.get(key).map_err(|e| e.to_string()),
            Reader::Mem(m) => Ok(m.get(key)),
        }
    }
}

/// RPCs to one peer over a keep-alive HTTP connection; bodies are postcard.
pub struct Peer {
    client: Client,
}

#[derive(Debug)]
struct Msg(String);
impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Msg {}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Peer {
    // The error type is openraft's.
    #[allow(clippy::result_large_err)]
    async fn rpc<Req: Serialize, Resp: DeserializeOwned, E>(
        &mut self,
        path: &str,
        req: &Req,
        target: NodeId,
    ) -> Result<Resp, RpcErr<E>>
    where
        E: std::error::Error + DeserializeOwned,
    {
        let body =
            postcard::to_allocvec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let (status, body) = self
            .client
            .call("POST", path, None, &body)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        if status != 200 {
            return Err(RPCError::Network(NetworkError::new(&Msg(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
            )))));
        }
        let r: Result<Resp, RaftError<NodeId, E>> =
            postcard::from_bytes(&body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }
}

pub struct PeerTarget {
    peer: Peer,
    target: NodeId,
}

impl RaftNetwork<TypeConfig> for PeerTarget {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _o: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        self.peer.rpc("/raft/append", &rpc, self.target).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _o: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        self.peer.rpc("/raft/snapshot", &rpc, self.target).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _o: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        self.peer.rpc("/raft/vote", &rpc, self.target).await
    }
}

pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerTarget;
    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerTarget {
        PeerTarget {
            peer: Peer {
                client: Client::new(node.addr.clone()),
            },
            target,
        }
    }
}

type Pending = (Op, oneshot::Sender<Result<bool, String>>);

/// A running node.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft<TypeConfig>,
    reader: Reader,
    proposals: mpsc::UnboundedSender<Pending>,
    /// Keep-alive connections to the other nodes, for forwarding.
    forward: Mutex<BTreeMap<NodeId, Client>>,
}

/// Most operations proposed as one log entry.
const MAX_BATCH: usize = 512;
/// Proposals in flight at once (the next batch forms while these commit).
const IN_FLIGHT: usize = 2;

pub fn raft_config() -> Arc<Config> {
    let c = Config {
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        ..Default::default()
    };
    Arc::new(c.validate().unwrap_or_else(|e| panic!("raft config: {e}")))
}

impl Node {
    /// Opens the node's storage in `dir`, starts Raft and serves HTTP on `listener`.
    pub async fn start(
        id: NodeId,
        dir: &Path,
        store: Store,
        listener: TcpListener,
    ) -> Result<Arc<Node>, String> {
        let config = raft_config();
        let (raft, reader) = match store {
            Store::Cairn => {
                let (log, sm) = cairn_raft::open_path(dir).map_err(|e| e.to_string())?;
                let reader = Reader::Cairn(sm.reader());
                let raft = Raft::new(id, config, Network, log, sm)
                    .await
                    .map_err(|e| e.to_string())?;
                (raft, reader)
            }
            Store::Mem => {
                let sm = MemSm::default();
                let reader = Reader::Mem(sm.clone());
                let raft = Raft::new(id, config, Network, MemLog::default(), sm)
                    .await
                    .map_err(|e| e.to_string())?;
                (raft, reader)
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let node = Arc::new(Node {
            id,
            raft: raft.clone(),
            reader,
            proposals: tx,
            forward: Mutex::new(BTreeMap::new()),
        });
        tokio::spawn(propose_loop(raft, rx));
        let n = node.clone();
        tokio::spawn(http::serve(
            listener,
            Arc::new(move |req| {
                let n = n.clone();
                async move { n.handle(req).await }
            }),
        ));
        Ok(node)
    }

    async fn handle(&self, req: http::Request) -> Response {
        let path = req.path.clone();
        match (req.method.as_str(), path.as_str()) {
            ("POST", "/raft/append") => {
                raft_rpc(&req.body, |r: AppendEntriesRequest<TypeConfig>| {
                    self.raft.append_entries(r)
                })
                .await
            }
            ("POST", "/raft/vote") => raft_rpc(&req.body, |r| self.raft.vote(r)).await,
            ("POST", "/raft/snapshot") => {
                raft_rpc(&req.body, |r: InstallSnapshotRequest<TypeConfig>| {
                    self.raft.install_snapshot(r)
                })
                .await
            }
            ("GET", "/status") => {
                let m = self.raft.metrics().borrow().clone();
                Response::json(serde_json::to_string_pretty(&m).unwrap_or_default() + "\n")
            }
            (method, p) if p.starts_with("/kv/") => {
                let key = percent_decode(&p[4..]).into_bytes();
                match method {
                    "GET" => self.read(&key, &req).await,
                    "PUT" | "POST" => {
                        self.write(
                            Op::Put {
                                key,
                                value: req.body.clone(),
                            },
                            &req,
                        )
                        .await
                    }
                    "DELETE" => self.write(Op::Delete { key }, &req).await,
                    _ => Response::new(405, "use GET, PUT or DELETE\n"),
                }
            }
            _ => Response::new(404, "endpoints: GET|PUT|DELETE /kv/<key>, GET /status\n"),
        }
    }

    /// A linearizable read: read index on the leader, then the local state machine.
    async fn read(&self, key: &[u8], req: &http::Request) -> Response {
        match self.raft.ensure_linearizable().await {
            Ok(_) => match self.reader.get(key) {
                Ok(Some(v)) => Response::new(200, v),
                Ok(None) => Response::new(404, "not found\n"),
                Err(e) => Response::new(500, format!("{e}\n")),
            },
            Err(e) => match e
                .forward_to_leader()
                .and_then(|f| f.leader_node.clone().zip(f.leader_id))
            {
                Some((node, id)) => self.forward(id, &node.addr, req).await,
                None => Response::new(503, format!("{e}\n")),
            },
        }
    }

    async fn write(&self, op: Op, req: &http::Request) -> Response {
        let check = Request {
            ops: vec![op.clone()],
        }
        .check();
        if let Err(e) = check {
            return Response::new(400, format!("{e}\n"));
        }
        // Writes on a follower go to the leader.
        let leader = self.raft.current_leader().await;
        if leader.is_some_and(|l| l != self.id) {
            let m = self.raft.metrics().borrow().clone();
            if let Some((id, node)) = leader.and_then(|l| {
                m.membership_config
                    .membership()
                    .get_node(&l)
                    .map(|n| (l, n.clone()))
            }) {
                return self.forward(id, &node.addr, req).await;
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.proposals.send((op, tx)).is_err() {
            return Response::new(503, "node is shutting down\n");
        }
        match rx.await {
            Ok(Ok(true)) => Response::new(200, "ok\n"),
            Ok(Ok(false)) => Response::new(400, "refused\n"),
            Ok(Err(e)) => Response::new(503, format!("{e}\n")),
            Err(_) => Response::new(503, "node is shutting down\n"),
        }
    }

    async fn forward(&self, leader: NodeId, addr: &str, req: &http::Request) -> Response {
        if req.forwarded {
            return Response::new(
                503,
                format!("not the leader; try node {leader} at {addr}\n"),
            );
        }
        let mut clients = self.forward.lock().await;
        let client = clients
            .entry(leader)
            .or_insert_with(|| Client::new(addr.to_string()));
        match client
            .call(&req.method, &req.path, Some(self.id), &req.body)
            .await
        {
            Ok((status, body)) => Response::new(status, body),
            Err(e) => Response::new(503, format!("forwarding to node {leader} failed: {e}\n")),
        }
    }
}

async fn raft_rpc<Req, Resp, E, F>(body: &[u8], f: impl FnOnce(Req) -> F) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Serialize,
    F: std::future::Future<Output = Result<Resp, E>>,
{
    match postcard::from_bytes::<Req>(body) {
        Ok(r) => {
            let out = f(r).await;
            match postcard::to_allocvec(&out) {
                Ok(b) => Response::binary(b),
                Err(e) => Response::new(500, format!("{e}\n")),
            }
        }
        Err(e) => Response::new(400, format!("bad rpc body: {e}\n")),
    }
}

/// Group commit at the service level: operations that arrive while earlier proposals commit
/// are proposed together as one log entry (one synced Cairn batch on each node).
async fn propose_loop(raft: Raft<TypeConfig>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (ops, waiters): (Vec<Op>, Vec<_>) = batch.into_iter().unzip();
            match raft.client_write(Request { ops }).await {
                Ok(resp) => {
                    for (w, ok) in waiters.into_iter().zip(resp.data.results) {
                        let _ = w.send(Ok(ok));
                    }
                }
                Err(e) => {
                    for w in waiters {
                        let _ = w.send(Err(e.to_string()));
                    }
                }
            }
            drop(permit);
        });
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
