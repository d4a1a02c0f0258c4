// cairn-db outside browsers (Node 20+, and Deno, Bun and Electron where `node:fs` exists): the
// engine's files in a real directory, one file per engine file under the names the native
// `cairn` crate uses, so a database written here opens natively and the reverse.
//
//   import { Cairn } from 'cairn-db';            // in Node, Cairn.open uses this module
//   const db = await Cairn.open('./data/notes');  // a directory, relative to process.cwd()
//
// Not part of what a page downloads: index.js imports it only when it runs under Node.
//
// NodeFiles is the host object the wasm Vfs (wasm/src/host.rs) calls: positional reads and
// writes, fdatasync, ftruncate, fstat, exclusive create, remove, list, fsync of the directory
// and the directory lock, all synchronous (node:fs *Sync calls) because the engine is.
//
// The lock: the file LOCK.node holding "<pid> <hostname>", created atomically (written to a
// temporary file, then hard-linked into place, which fails when it exists; where hard links are
// not supported, created with O_EXCL). A second opener, in this process or another, gets
// LOCKED while the holder lives. A lock left by a process that died (SIGKILL, power loss) is
// stale: the next opener on the same host sees that the pid is gone (process.kill(pid, 0)),
// moves the file aside with an atomic rename (so two openers cannot both take it over) and
// takes the lock. A lock naming another host is never taken over (remove it by hand once that
// host no longer uses the directory). The holder removes LOCK.node on close and at a normal
// process exit.

import * as fs from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { hostname } from 'node:os';

/** The name of the lock file in a database directory. */
export const LOCK_FILE = 'LOCK.node';

/** The files Cairn names (core/src/filename.rs); Cairn.destroy removes only these. */
const OWN = /^(\d+\.(sst|wal)|MANIFEST-\d+|CURRENT-[AB]|LOCK|LOCK\.node)$/;

/** NodeFiles of this process holding their lock, released at exit. */
const held = new Set();
let hooked = false;

function lockedError(message) {
  const e = new Error(message);
  e.code = 'LOCKED';
  return e;
}

function readOwner(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
}

/** Whether the lock owner recorded as "<pid> <host>" may still hold it. */
function ownerAlive(owner) {
  const [pid, host] = owner.trim().split(' ');
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false; // not a lock this module wrote: stale
  if (host !== hostname()) return true; // another machine: we cannot tell
  if (n === process.pid) return true; // this process (a second open of the same directory)
  try {
    process.kill(n, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM'; // alive, owned by another user
  }
}

/** The host object of one open database directory (see wasm/src/host.rs for the interface). */
export class NodeFiles {
  /**
   * @param {string} dir the database directory (relative paths resolve against process.cwd())
   * @param {boolean} create create the directory (and parents) when missing
   */
  constructor(dir, create = true) {
    this.dir = resolve(dir);
    if (create) fs.mkdirSync(this.dir, { recursive: true });
    this.lockPath = join(this.dir, LOCK_FILE);
    this.me = `${process.pid} ${hostname()}\n`;
    this.locked = false;
  }

  read(fd, buf, pos) {
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, pos + n);
      if (r === 0) break;
      n += r;
    }
    return n;
  }

  write(fd, data, pos) {
    let n = 0;
    while (n < data.length) n += fs.writeSync(fd, data, n, data.length - n, pos + n);
  }

  op(code, fd, arg) {
    switch (code) {
      case 0: fs.fdatasyncSync(fd); return 0;
      case 1: fs.ftruncateSync(fd, arg); return 0;
      case 2: return fs.fstatSync(fd).size;
      case 3: fs.closeSync(fd); return 0;
      case 4: this.syncDir(); return 0;
      case 5: this.lock(); return 0;
      case 6: this.unlock(); return 0;
      default: throw new Error(`unknown host op ${code}`);
    }
  }

  path(code, name) {
    const p = join(this.dir, name);
    switch (code) {
      case 0: return fs.openSync(p, 'wx+');
      case 1: return fs.openSync(p, 'r+');
      case 2: fs.unlinkSync(p); return 0;
      case 3: try { return fs.statSync(p).isFile(); } catch (e) { if (e.code === 'ENOENT') return false; throw e; }
      case 4: return fs.readdirSync(this.dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
      default: throw new Error(`unknown host path op ${code}`);
    }
  }

  /** fsync of the directory, so that creates and removes are durable (POSIX). */
  syncDir() {
    let d;
    try {
      d = fs.openSync(this.dir, 'r');
    } catch (e) {
      // Windows cannot open a directory; NTFS journals its metadata itself.
      if (process.platform === 'win32') return;
      throw e;
    }
    try {
      fs.fsyncSync(d);
    } catch (e) {
      if (process.platform !== 'win32') throw e;
    } finally {
      fs.closeSync(d);
    }
  }

  /** Takes LOCK.node (see the top of this file); throws an error with code LOCKED. */
  lock() {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (this.tryCreateLock()) {
        this.locked = true;
        held.add(this);
        if (!hooked) {
          hooked = true;
          process.on('exit', () => held.forEach((f) => f.unlock()));
        }
        return;
      }
      const owner = readOwner(this.lockPath);
      if (owner === null) continue; // released meanwhile
      if (ownerAlive(owner)) {
        throw lockedError(`${this.dir} is open in process ${owner.trim()} (lock file ${LOCK_FILE})`);
      }
      // Stale: move it aside atomically; of several openers only one moves this file.
      const aside = `${this.lockPath}.stale-${process.pid}`;
      try {
        fs.renameSync(this.lockPath, aside);
      } catch (e) {
        if (e.code === 'ENOENT') continue;
        throw e;
      }
      const moved = readOwner(aside);
      if (moved !== owner) {
        // A fresh lock another opener took after we read the stale one: put it back.
        try { fs.linkSync(aside, this.lockPath); } catch { /* a third opener has it */ }
        fs.rmSync(aside, { force: true });
        throw lockedError(`${this.dir} is being opened by another process (lock file ${LOCK_FILE})`);
      }
      fs.rmSync(aside, { force: true });
    }
    throw lockedError(`${this.dir}: could not take ${LOCK_FILE} (contended)`);
  }

  /** Creates LOCK.node holding this process's pid and host; false when it exists. */
  tryCreateLock() {
    const tmp = `${this.lockPath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, this.me);
    try {
      fs.linkSync(tmp, this.lockPath);
      return true;
    } catch (e) {
      if (e.code === 'EEXIST') return false;
      if (e.code !== 'EPERM' && e.code !== 'ENOTSUP' && e.code !== 'ENOSYS') throw e;
      // No hard links here: O_EXCL create (an opener may then see it empty for a moment and
      // treat it as stale; ownerAlive only takes over locks whose pid it can check).
      try {
        fs.writeFileSync(this.lockPath, this.me, { flag: 'wx' });
        return true;
      } catch (e2) {
        if (e2.code === 'EEXIST') return false;
        throw e2;
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Releases the lock (removes LOCK.node when it is still this process's). */
  unlock() {
    if (!this.locked) return;
    this.locked = false;
    held.delete(this);
    try {
      if (readOwner(this.lockPath) === this.me) fs.unlinkSync(this.lockPath);
    } catch {
      // best effort: a leftover lock of a dead process is taken over as stale
    }
  }
}

/** A node:fs error thrown outside the engine as one with a Cairn code (LOCKED, NOT_FOUND, NO_SPACE, IO). */
function typed(e) {
  if (e.code === 'LOCKED') return e;
  const err = new Error(e.message);
  err.code = e.code === 'ENOENT' ? 'NOT_FOUND' : e.code === 'ENOSPC' ? 'NO_SPACE' : 'IO';
  return err;
}

/** A name the engine accepts for a directory (for messages only). */
function nameOf(dir) {
  const b = basename(resolve(dir));
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(b) ? b : 'db';
}

/**
 * The host and engine name for `Cairn.open(dir, options)` under Node: the directory is created
 * unless `createIfMissing: false`.
 */
export function files(dir, options = {}) {
  try {
    return { host: new NodeFiles(dir, options.createIfMissing !== false), name: nameOf(dir) };
  } catch (e) {
    throw typed(e);
  }
}

/**
 * Deletes the database in `dir`: the files Cairn names (tables, WALs, manifests, current
 * pointers, lock files), then the directory if nothing else is left in it. Fails with LOCKED
 * while the database is open; a missing directory is not an error.
 */
export function destroy(dir) {
  try {
    destroyFiles(dir);
  } catch (e) {
    throw typed(e);
  }
}

function destroyFiles(dir) {
  const host = new NodeFiles(dir, false);
  if (!fs.existsSync(host.dir)) return;
  host.lock();
  try {
    for (const d of fs.readdirSync(host.dir, { withFileTypes: true })) {
      if (d.isFile() && OWN.test(d.name) && d.name !== LOCK_FILE) fs.unlinkSync(join(host.dir, d.name));
    }
  } finally {
    host.unlock();
  }
  try {
    fs.rmdirSync(host.dir);
  } catch (e) {
    if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST' && e.code !== 'ENOENT') throw e;
  }
}
