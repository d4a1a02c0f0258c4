//! A three-node openraft cluster in one process on Cairn stores, with an in-memory network:
//! a random key-value workload while a follower loses power and restarts from its files, the
//! leader loses power, a follower is cut off until it needs a snapshot, and the leader is
//! partitioned from the majority. Every client operation is recorded and the history is
//! checked for linearizability; at the end all three state machines must be equal.

mod support;

use cairn::{Db, Options, StdVfs};
use cairn_raft::{KvReader, Op, Request, TypeConfig};
use cairn_vfs::fault::{CrashMode, FaultVfs};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, Raft, RaftNetwork, RaftNetworkFactory, SnapshotPolicy};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::linearizability::{self, Kind, Value};

type Vfs = FaultVfs<StdVfs>;
type NodeId = u64;

/// Who is reachable: running nodes and cut links.
#[derive(Default)]
struct RouterState {
    nodes: HashMap<NodeId, Raft<TypeConfig>>,
    cut: HashSet<(NodeId, NodeId)>,
}

#[derive(Clone, Default)]
struct Router {
    state: Arc<Mutex<RouterState>>,
}

#[derive(Debug)]
struct Down(String);
impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Down {}

impl Router {
    fn target(&self, from: NodeId, to: NodeId) -> Result<Raft<TypeConfig>, Unreachable> {
        let s = self.state.lock().expect("router");
        if s.cut.contains(&(from, to)) || s.cut.contains(&(to, from)) {
            return Err(Unreachable::new(&Down(format!("link {from}-{to} is cut"))));
        }
        s.nodes
            .get(&to)
            .cloned()
            .ok_or_else(|| Unreachable::new(&Down(format!("node {to} is down"))))
    }

    /// Cuts every link between `a` and the nodes of `others`.
    fn isolate(&self, a: NodeId, others: &[NodeId]) {
        let mut s = self.state.lock().expect("router");
        for &o in others {
            s.cut.insert((a, o));
        }
    }

    fn heal(&self) {
        self.state.lock().expect("router").cut.clear();
    }

    fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        self.target(from, to).is_ok()
    }
}

struct Net {
    from: NodeId,
    router: Router,
}

struct Conn {
    from: NodeId,
    to: NodeId,
    router: Router,
}

impl RaftNetworkFactory<TypeConfig> for Net {
    type Network = Conn;
    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Conn {
        Conn {
            from: self.from,
            to: target,
            router: self.router.clone(),
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Conn {
    /// The answer is lost too if the link was cut while the request was in flight.
    // The error type is openraft's.
    #[allow(clippy::result_large_err)]
    fn back<T, E: std::error::Error>(
        &self,
        r: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RpcErr<E>> {
        if !self.router.reachable(self.from, self.to) {
            return Err(RPCError::Network(NetworkError::new(&Down(
                "answer lost".into(),
            ))));
        }
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }
}

impl RaftNetwork<TypeConfig> for Conn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let raft = self.router.target(self.from, self.to)?;
        let r = raft.append_entries(rpc).await;
        self.back(r)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let raft = self.router.target(self.from, self.to)?;
        let r = raft.install_snapshot(rpc).await;
        self.back(r)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        let raft = self.router.target(self.from, self.to)?;
        let r = raft.vote(rpc).await;
        self.back(r)
    }
}

struct Node {
    vfs: Vfs,
    up: Option<(Raft<TypeConfig>, KvReader<Vfs>)>,
}

struct Cluster {
    router: Router,
    config: Arc<Config>,
    nodes: BTreeMap<NodeId, Node>,
    _dir: tempfile::TempDir,
}

const IDS: [NodeId; 3] = [1, 2, 3];
/// Entries after which a node snapshots and purges its log.
const SNAPSHOT_EVERY: u64 = 200;

impl Cluster {
    async fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Config {
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            snapshot_max_chunk_size: 64 << 10,
            ..Default::default()
        };
        let config = Arc::new(c.validate().expect("config"));
        let mut cluster = Cluster {
            router: Router::default(),
            config,
            nodes: BTreeMap::new(),
            _dir: dir,
        };
        for id in IDS {
            let path = cluster._dir.path().join(format!("n{id}"));
            let vfs = FaultVfs::new(StdVfs::new(&path).expect("dir"));
            cluster.nodes.insert(id, Node { vfs, up: None });
            cluster.start(id).await;
        }
        let members: BTreeMap<NodeId, BasicNode> = IDS
            .iter()
            .map(|&i| (i, BasicNode::new(format!("mem:{i}"))))
            .collect();
        cluster
            .raft(1)
            .initialize(members)
            .await
            .expect("initialize");
        cluster
    }

    fn raft(&self, id: NodeId) -> Raft<TypeConfig> {
        self.nodes[&id].up.as_ref().expect("node up").0.clone()
    }

    /// Opens the node's database from its files and starts its Raft.
    // Options is becoming #[non_exhaustive]: fields are set after `default()`.
    #[allow(clippy::field_reassign_with_default)]
    async fn start(&mut self, id: NodeId) {
        let vfs = self.nodes[&id].vfs.clone();
        let mut opts = Options::default();
        opts.background_threads = 1;
        let (log, sm) =
            cairn_raft::open(Db::open_vfs(vfs, opts).expect("open db")).expect("open stores");
        let reader = sm.reader();
        let net = Net {
            from: id,
            router: self.router.clone(),
        };
        let raft = Raft::new(id, self.config.clone(), net, log, sm)
            .await
            .expect("raft");
        self.router
            .state
            .lock()
            .expect("router")
            .nodes
            .insert(id, raft.clone());
        self.nodes.get_mut(&id).expect("node").up = Some((raft, reader));
    }

    /// Power loss: the node stops and its files go back to what was synced.
    async fn crash(&mut self, id: NodeId) {
        self.router.state.lock().expect("router").nodes.remove(&id);
        let node = self.nodes.get_mut(&id).expect("node");
        if let Some((raft, reader)) = node.up.take() {
            raft.shutdown().await.expect("shutdown");
            drop(reader);
        }
        // Give openraft's tasks a moment to drop their store handles.
        tokio::time::sleep(Duration::from_millis(50)).await;
        node.vfs.crash(CrashMode::DropUnsyncedAndDirOps);
    }

    fn leader(&self) -> Option<NodeId> {
        for node in self.nodes.values() {
            if let Some((raft, _)) = &node.up {
                let m = raft.metrics().borrow().clone();
                if m.state == openraft::ServerState::Leader {
                    return Some(m.id);
                }
            }
        }
        None
    }

    async fn wait_leader(&self) -> NodeId {
        for _ in 0..200 {
            if let Some(l) = self.leader() {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no leader within 5 s");
    }

    /// Waits until every running node has applied at least `index`.
    async fn wait_applied(&self, index: u64, what: &str) {
        for node in self.nodes.values() {
            if let Some((raft, _)) = &node.up {
                raft.wait(Some(Duration::from_secs(10)))
                    .applied_index_at_least(Some(index), what)
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        }
    }

    fn clients(&self) -> Clients {
        let mut nodes = HashMap::new();
        for (&id, node) in &self.nodes {
            if let Some((raft, reader)) = &node.up {
                nodes.insert(id, (raft.clone(), reader.clone()));
            }
        }
        Clients { nodes }
    }
}

/// The nodes a workload talks to (a snapshot of which are up).
#[derive(Clone)]
struct Clients {
    nodes: HashMap<NodeId, (Raft<TypeConfig>, KvReader<Vfs>)>,
}

struct History {
    start: Instant,
    ops: Mutex<Vec<linearizability::Op>>,
    next_value: AtomicU64,
}

impl History {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

const KEYS: u64 = 4;
const OP_TIMEOUT: Duration = Duration::from_millis(1500);

fn key_bytes(k: u64) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

fn decode_value(v: Option<Vec<u8>>) -> Value {
    v.map(|b| {
        let s = String::from_utf8(b).expect("utf8 value");
        s.parse().expect("numeric value")
    })
}

/// One client: `ops` random operations against whichever node it believes leads.
async fn client(clients: Clients, history: Arc<History>, seed: u64, ops: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let ids: Vec<NodeId> = {
        let mut v: Vec<_> = clients.nodes.keys().copied().collect();
        v.sort();
        v
    };
    let mut target = ids[rng.gen_range(0..ids.len())];
    for _ in 0..ops {
        let (raft, reader) = &clients.nodes[&target];
        let key = rng.gen_range(0..KEYS);
        let roll = rng.gen_range(0..100);
        let invoke = history.now();
        if roll < 45 {
            // Linearizable read: read index on the node, then the local state machine.
            let r = tokio::time::timeout(OP_TIMEOUT, raft.ensure_linearizable()).await;
            match r {
                Ok(Ok(_)) => {
                    let v = decode_value(reader.get(&key_bytes(key)).expect("read"));
                    let complete = history.now();
                    history
                        .ops
                        .lock()
                        .expect("history")
                        .push(linearizability::Op {
                            key,
                            invoke,
                            complete: Some(complete),
                            kind: Kind::Read(v),
                        });
                }
                // A failed read has no effect and constrains nothing.
                Ok(Err(e)) => {
                    target = redirect(
                        &e.forward_to_leader().and_then(|f| f.leader_id),
                        &ids,
                        &mut rng,
                    )
                }
                Err(_) => target = ids[rng.gen_range(0..ids.len())],
            }
        } else {
            let new = history.next_value.fetch_add(1, Ordering::Relaxed);
            let (op, kind) = if roll < 85 {
                let op = Op::Put {
                    key: key_bytes(key),
                    value: new.to_string().into_bytes(),
                };
                (op, Kind::Write(Some(new)))
            } else if roll < 90 {
                (
                    Op::Delete {
                        key: key_bytes(key),
                    },
                    Kind::Write(None),
                )
            } else {
                // Compare against a recent value (or absence), so some succeed.
                let expected = if rng.gen_bool(0.2) {
                    None
                } else {
                    Some(new.saturating_sub(rng.gen_range(1..4)))
                };
                let op = Op::Cas {
                    key: key_bytes(key),
                    expected: expected.map(|v| v.to_string().into_bytes()),
                    new: Some(new.to_string().into_bytes()),
                };
                (
                    op,
                    Kind::Cas {
                        expected,
                        new: Some(new),
                        ok: None,
                    },
                )
            };
            let r = tokio::time::timeout(OP_TIMEOUT, raft.client_write(Request { ops: vec![op] }))
                .await;
            let (complete, kind) = match (r, kind) {
                (Ok(Ok(resp)), Kind::Cas { expected, new, .. }) => (
                    Some(history.now()),
                    Kind::Cas {
                        expected,
                        new,
                        ok: Some(resp.data.results[0]),
                    },
                ),
                (Ok(Ok(_)), kind) => (Some(history.now()), kind),
                // No answer, or an error after which the entry may still commit: unknown.
                (Ok(Err(e)), kind) => {
                    target = redirect(
                        &e.forward_to_leader().and_then(|f| f.leader_id),
                        &ids,
                        &mut rng,
                    );
                    (None, kind)
                }
                (Err(_), kind) => {
                    target = ids[rng.gen_range(0..ids.len())];
                    (None, kind)
                }
            };
            history
                .ops
                .lock()
                .expect("history")
                .push(linearizability::Op {
                    key,
                    invoke,
                    complete,
                    kind,
                });
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..4))).await;
    }
}

fn redirect(leader: &Option<NodeId>, ids: &[NodeId], rng: &mut SmallRng) -> NodeId {
    match leader {
        Some(l) if ids.contains(l) => *l,
        _ => ids[rng.gen_range(0..ids.len())],
    }
}

/// Runs `n` clients of `ops` operations each against the nodes that are up.
async fn workload(cluster: &Cluster, history: &Arc<History>, seed: u64, n: u64, ops: usize) {
    let clients = cluster.clients();
    let tasks: Vec<_> = (0..n)
        .map(|c| {
            tokio::spawn(client(
                clients.clone(),
                history.clone(),
                seed * 100 + c,
                ops,
            ))
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
}

/// Writes `n` entries through the leader, following it if it changes (not recorded: keys the
/// clients never use, and a retried put of the same value is harmless). Returns the last
/// index written and the node that led at the end.
async fn fill(cluster: &Cluster, leader: NodeId, n: usize) -> (u64, NodeId) {
    let mut leader = leader;
    let mut last = 0;
    for i in 0..n {
        let req = Request {
            ops: vec![Op::Put {
                key: format!("fill{i:05}").into_bytes(),
                value: vec![b'x'; 100],
            }],
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts <= 50, "fill write {i} failed 50 times");
            let r =
                tokio::time::timeout(OP_TIMEOUT, cluster.raft(leader).client_write(req.clone()))
                    .await;
            match r {
                Ok(Ok(r)) => {
                    last = r.log_id.index;
                    break;
                }
                Ok(Err(e)) => {
                    if let Some(l) = e.forward_to_leader().and_then(|f| f.leader_id) {
                        leader = l;
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        leader = cluster.wait_leader().await;
                    }
                }
                Err(_) => leader = cluster.wait_leader().await,
            }
        }
    }
    (last, leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_crashes_partitions_and_snapshots_linearizably() {
    let mut cluster = Cluster::new().await;
    let history = Arc::new(History {
        start: Instant::now(),
        ops: Mutex::new(Vec::new()),
        next_value: AtomicU64::new(1),
    });
    let leader = cluster.wait_leader().await;
    let phase = |name: &str| eprintln!("{:>6} ms  {name}", history.start.elapsed().as_millis());

    // 1. Steady state.
    workload(&cluster, &history, 1, 4, 40).await;

    phase("follower power loss");
    // 2. A follower loses power mid-workload and restarts from its files.
    let follower = IDS.into_iter().find(|&i| i != leader).expect("follower");
    let clients = cluster.clients();
    let busy: Vec<_> = (0..3)
        .map(|c| tokio::spawn(client(clients.clone(), history.clone(), 200 + c, 40)))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.crash(follower).await;
    for t in busy {
        t.await.expect("client task");
    }
    cluster.start(follower).await;
    let leader = cluster.wait_leader().await;
    let (idx, _) = fill(&cluster, leader, 1).await;
    cluster
        .wait_applied(idx, "restarted follower caught up")
        .await;

    phase("leader power loss");
    // 3. The leader loses power; the others elect a new one; the old leader comes back.
    let old = cluster.wait_leader().await;
    let clients = cluster.clients();
    let busy: Vec<_> = (0..3)
        .map(|c| tokio::spawn(client(clients.clone(), history.clone(), 300 + c, 40)))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.crash(old).await;
    for t in busy {
        t.await.expect("client task");
    }
    let leader = cluster.wait_leader().await;
    assert_ne!(leader, old, "a crashed node cannot lead");
    workload(&cluster, &history, 4, 3, 30).await;
    cluster.start(old).await;

    phase("lagging follower");
    // 4. A follower is cut off while the others write past a snapshot and purge their logs;
    //    when it comes back it can only catch up by installing a snapshot.
    let leader = cluster.wait_leader().await;
    let lagging = IDS.into_iter().find(|&i| i != leader).expect("follower");
    let others: Vec<_> = IDS.into_iter().filter(|&i| i != lagging).collect();
    cluster.router.isolate(lagging, &others);
    workload(&cluster, &history, 5, 2, 20).await;
    let (idx, leader) = fill(&cluster, leader, SNAPSHOT_EVERY as usize + 50).await;
    assert_ne!(leader, lagging, "an isolated node cannot lead");
    cluster
        .raft(leader)
        .trigger()
        .snapshot()
        .await
        .expect("trigger snapshot");
    let raft = cluster.raft(leader);
    raft.wait(Some(Duration::from_secs(10)))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= idx),
            "leader purged its log",
        )
        .await
        .expect("leader purge");
    let lag_last = cluster
        .raft(lagging)
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    let purged = raft.metrics().borrow().purged.map_or(0, |p| p.index);
    assert!(
        lag_last < purged,
        "the lagging follower ({lag_last}) must need purged entries (<= {purged})"
    );
    cluster.router.heal();
    cluster
        .raft(lagging)
        .wait(Some(Duration::from_secs(15)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= purged),
            "lagging follower installed a snapshot",
        )
        .await
        .expect("snapshot install");
    cluster
        .wait_applied(idx, "lagging follower caught up")
        .await;

    phase("leader partitioned");
    // 5. The leader is partitioned from the majority while clients keep going; the majority
    //    elects a new leader; then the partition heals.
    let leader = cluster.wait_leader().await;
    let others: Vec<_> = IDS.into_iter().filter(|&i| i != leader).collect();
    let clients = cluster.clients();
    let busy: Vec<_> = (0..3)
        .map(|c| tokio::spawn(client(clients.clone(), history.clone(), 600 + c, 40)))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    cluster.router.isolate(leader, &others);
    async {
        for _ in 0..200 {
            for &o in &others {
                let m = cluster.raft(o).metrics().borrow().clone();
                if m.state == openraft::ServerState::Leader {
                    return o;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the majority elected no leader");
    }
    .await;
    for t in busy {
        t.await.expect("client task");
    }
    cluster.router.heal();
    workload(&cluster, &history, 7, 3, 30).await;

    phase("convergence");
    // Every node converges on the same state.
    let leader = cluster.wait_leader().await;
    let (idx, _) = fill(&cluster, leader, 1).await;
    cluster.wait_applied(idx, "final convergence").await;
    let states: Vec<_> = cluster
        .nodes
        .values()
        .map(|n| n.up.as_ref().expect("up").1.entries().expect("entries"))
        .collect();
    assert!(
        states.windows(2).all(|w| w[0] == w[1]),
        "state machines differ"
    );

    let ops = history.ops.lock().expect("history").clone();
    let answered = ops.iter().filter(|o| o.complete.is_some()).count();
    assert!(
        answered > 300,
        "too few operations completed: {answered} of {}",
        ops.len()
    );
    if let Err(e) = linearizability::check(&ops) {
        panic!("{e}");
    }
    for id in IDS {
        cluster.crash(id).await;
    }
}
