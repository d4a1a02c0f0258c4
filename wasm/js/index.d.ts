// Type declarations for cairn-db.

/** A key or value: bytes, or a string (stored as UTF-8). */
export type Bytes = Uint8Array | string;

/**
 * Stable error codes (`CairnError.code`). `QUOTA`: the browser's storage quota is exhausted
 * (QuotaExceededError); reads keep working and writes resume once space is freed. `EVICTED`:
 * the browser removed the database's files while it was open (the origin's storage was
 * cleared). `NO_SPACE`: no free OPFS pool file within `maxOpenFiles`. See README.md for all.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'KEY_TOO_LARGE'
  | 'VALUE_TOO_LARGE'
  | 'CLOSED'
  | 'LOCKED'
  | 'CORRUPTION'
  | 'IO'
  | 'NO_SPACE'
  | 'QUOTA'
  | 'EVICTED'
  | 'POISONED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'UNSUPPORTED_FORMAT'
  | 'UNAVAILABLE'
  | 'SNAPSHOT_RELEASED'
  | 'CONFLICT'
  | 'TRANSACTION_FINISHED'
  | 'INTERNAL'
  | (string & {});

/** Every failure is a CairnError with a stable `code`. */
export class CairnError extends Error {
  readonly name: 'CairnError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string);
}

export interface OpenOptions {
  /**
   * Share the database with the other tabs of the origin (default true): the first tab owns
   * it, the others forward their calls, and take over when the owner closes. With `false`, a
   * second tab gets a `LOCKED` error.
   */
  multiTab?: boolean;
  /** Keep the data in memory instead of OPFS (browser) or files (Node); same as `backend: 'memory'`. */
  memory?: boolean;
  /**
   * Node, Deno, Bun, Electron: `'files'` (default) stores the database in the directory `name`
   * (relative to `process.cwd()`, created unless `createIfMissing: false`), `'memory'` keeps it
   * in memory for the life of the process. Browsers: OPFS, or memory with `memory: true`.
   */
  backend?: 'files' | 'memory';
  /** Memtable size in bytes before a flush (default 4 MiB). */
  writeBufferSize?: number;
  /** Block cache budget in bytes (default 8 MiB). */
  blockCacheSize?: number;
  /** Largest key in bytes (default 64 KiB); longer keys fail with KEY_TOO_LARGE. */
  maxKeySize?: number;
  /** Largest value in bytes (default 64 MiB); longer values fail with VALUE_TOO_LARGE. */
  maxValueSize?: number;
  /** Target SSTable size (default 8 MiB). */
  targetTableSize?: number;
  /** Bloom filter bits per key (default 10; 0 disables). */
  bloomBitsPerKey?: number;
  /** LZ4 block compression (default true). */
  compression?: boolean;
  /** Create the database when missing (default true). */
  createIfMissing?: boolean;
  /** Fail with ALREADY_EXISTS when the database exists (default false). */
  errorIfExists?: boolean;
  /** Free OPFS pool files kept ready (default 8; raised automatically as the database grows). */
  minFreeFiles?: number;
  /**
   * Cap on the OPFS sync access handles this database keeps open (lock file, used and free
   * pool files; default 128, at least 16): Safari allows about 252 per origin. The pool
   * never grows beyond it; with every handle in use, creating a file fails with NO_SPACE.
   */
  maxOpenFiles?: number;
  /** URL of worker.js when a bundler moves it. */
  workerUrl?: string | URL;
}

export interface WriteOptions {
  /**
   * Default true: the Promise resolves once the write is durable (the WAL is flushed). With
   * false it resolves once the write is applied; a crash may lose it (never a hole: a later
   * synced write makes it durable too).
   */
  sync?: boolean;
}

export interface ReadOptions {
  snapshot?: Snapshot;
}

export type BatchOp =
  | { type: 'put'; key: Bytes; value: Bytes }
  | { type: 'del' | 'delete'; key: Bytes }
  | { type: 'deleteRange'; key: Bytes; end: Bytes };

export interface ScanOptions {
  /** First key (inclusive). */
  start?: Bytes;
  /** End key (exclusive). */
  end?: Bytes;
  /** Only keys starting with this prefix. */
  prefix?: Bytes;
  /** Descending key order. */
  reverse?: boolean;
  /** At most this many entries. */
  limit?: number;
  /** Entries fetched from the worker per round trip (default 1000). */
  pageSize?: number;
  /** Read at this snapshot (default: a snapshot taken when the scan starts). */
  snapshot?: Snapshot;
  /** Yield keys as strings (UTF-8 decoded). */
  keyAsString?: boolean;
  /** Yield values as strings (UTF-8 decoded). */
  valueAsString?: boolean;
}

export interface LevelStats {
  level: number;
  tables: number;
  bytes: number;
  compactionRead: number;
  compactionWritten: number;
}

export interface Stats {
  storage: 'opfs' | 'memory' | 'files';
  memtableBytes: number;
  immutableMemtables: number;
  l0Runs: number;
  lastSequence: number;
  walBytes: number;
  walSyncs: number;
  commits: number;
  batches: number;
  flushes: number;
  flushBytes: number;
  compactions: number;
  writeSlowdowns: number;
  writeStops: number;
  cacheHits: number;
  cacheMisses: number;
  cacheBytes: number;
  snapshots: number;
  tableBytes: number;
  tableRawBytes: number;
  /** Transaction commits rejected with CONFLICT since open, and live transactions now. */
  txnConflicts: number;
  txnLive: number;
  levels: LevelStats[];
  /** Free OPFS pool files. */
  poolFree: number;
  /** Logical files. */
  files: number;
  poisoned: boolean;
  /** Longest background step (flush or compaction job) run in the worker, in ms: the longest cooperative pause. */
  maxStepMs: number;
  steps: number;
  stepMs: number;
  /** Longest group commit (WAL append + flush), in ms. */
  maxCommitMs: number;
  /** Write groups committed by the worker and the requests they held. */
  groups: number;
  groupedRequests: number;
  maxGroup: number;
  replenishes: number;
  queued: number;
  /** OPFS sync access handles this database holds open now, and the cap on them. */
  openHandles: number;
  maxOpenFiles: number;
  /** The most sync access handles open at once in the owning worker. */
  peakHandles: number;
  /** Times the worker mounted the database again (stale handle, quota recovery). */
  remounts: number;
  quotaErrors: number;
  /** True while writes wait for storage space (after a QUOTA error). */
  quotaBlocked: boolean;
  /** `navigator.storage.estimate()` of the origin, when available. */
  estimate?: { usage: number; quota: number };
}

export class Snapshot {
  readonly id: number;
  release(): Promise<void>;
}

export type TransactionScanOptions = Omit<ScanOptions, 'snapshot'>;

/**
 * An optimistic transaction, passed to the function given to `Cairn.transaction`. Reads see
 * the database as the transaction began plus its own buffered writes. `getForUpdate` and
 * every `scan` (the whole range, so inserts into it count) join the conflict set; `get` does
 * not. The commit fails with `CONFLICT`, writing nothing, when a write committed after the
 * transaction began touched that set. After `commit` or `rollback` every call rejects with
 * `TRANSACTION_FINISHED`.
 */
export class Transaction {
  get(key: Bytes, options: { asString: true }): Promise<string | undefined>;
  get(key: Bytes, options?: { asString?: boolean }): Promise<Uint8Array | undefined>;
  getForUpdate(key: Bytes, options: { asString: true }): Promise<string | undefined>;
  getForUpdate(key: Bytes, options?: { asString?: boolean }): Promise<Uint8Array | undefined>;
  put(key: Bytes, value: Bytes): Promise<void>;
  delete(key: Bytes): Promise<void>;
  scan(options?: TransactionScanOptions): AsyncIterableIterator<[Uint8Array | string, Uint8Array | string]>;
  /** Commits through group commit; durable when it resolves unless `sync: false`. */
  commit(options?: WriteOptions): Promise<void>;
  rollback(): Promise<void>;
}

export interface TransactionOptions extends WriteOptions {
  /** Attempts in all before a CONFLICT is returned (default 16). */
  retries?: number;
}

export class Cairn {
  readonly name: string;
  /** Where the data lives: OPFS (browser), files in a directory (Node) or memory. */
  readonly backend: 'opfs' | 'files' | 'memory';
  /** Opens (creating if missing) the database `name`. */
  static open(name: string, options?: OpenOptions): Promise<Cairn>;
  /** Deletes a database; LOCKED while any tab has it open. */
  /**
   * Asks the browser to keep the origin's storage under pressure (`navigator.storage.persist()`,
   * page only; workers lack it). Resolves to whether storage is persistent.
   */
  static persist(): Promise<boolean>;
  /** Node: removes Cairn's files from the directory `name`, then the directory if it is empty. */
  static destroy(name: string, options?: { memory?: boolean; backend?: 'files' | 'memory'; workerUrl?: string | URL }): Promise<void>;
  /** 'owner' when this tab's worker owns the files, 'client' when another tab's does. */
  role(): Promise<'owner' | 'client' | 'closed' | 'failed' | 'connecting'>;
  get(key: Bytes, options: ReadOptions & { asString: true }): Promise<string | undefined>;
  get(key: Bytes, options?: ReadOptions & { asString?: boolean }): Promise<Uint8Array | undefined>;
  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<void>;
  delete(key: Bytes, options?: WriteOptions): Promise<void>;
  /** Deletes every key k with start <= k < end: one range tombstone, whatever the range holds. */
  deleteRange(start: Bytes, end: Bytes, options?: WriteOptions): Promise<void>;
  /** Deletes every key starting with prefix: one range tombstone. */
  deletePrefix(prefix: Bytes, options?: WriteOptions): Promise<void>;
  /** Applies all operations atomically. */
  batch(ops: BatchOp[], options?: WriteOptions): Promise<void>;
  snapshot(): Promise<Snapshot>;
  scan(options: ScanOptions & { keyAsString: true; valueAsString: true }): AsyncIterableIterator<[string, string]>;
  scan(options: ScanOptions & { keyAsString: true; valueAsString?: false }): AsyncIterableIterator<[string, Uint8Array]>;
  scan(options: ScanOptions & { keyAsString?: false; valueAsString: true }): AsyncIterableIterator<[Uint8Array, string]>;
  scan(options?: ScanOptions & { keyAsString?: false; valueAsString?: false }): AsyncIterableIterator<[Uint8Array, Uint8Array]>;
  scan(options?: ScanOptions): AsyncIterableIterator<[Uint8Array | string, Uint8Array | string]>;
  /**
   * Runs `fn` in a transaction and commits it (unless `fn` committed or rolled back itself),
   * retrying with a fresh transaction on `CONFLICT`. `fn` may run more than once.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
  flush(): Promise<void>;
  stats(): Promise<Stats>;
  close(): Promise<void>;
}

export default Cairn;
