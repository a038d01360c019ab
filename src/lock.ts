// An exclusive lock on an output: a lock file created with O_EXCL (atomic on local filesystems)
// that names its holder, so a second writer is refused with who holds it. A holder killed with
// kill -9 leaves the file behind; it is stale once that pid no longer runs on this host.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { GeniusError } from './errors.js';

interface Holder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // runs, under another user
  }
}

function readHolder(lockPath: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(lockPath, 'utf8')) as Holder;
  } catch {
    return undefined; // gone, or torn by a writer killed mid-write
  }
}

/**
 * Takes `<path>.lock` for this process; returns its release. Throws a LOCKED GeniusError naming
 * the holder when another live process has it. Re-entrant within one process is not allowed.
 */
export function lockOutput(path: string): () => void {
  const lockPath = `${path}.lock`;
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new GeniusError(`cannot lock ${path}: ${code ?? String(err)} (creating ${lockPath})`, { code: 'IO' });
      const h = readHolder(lockPath);
      if (h && (h.host !== me.host || alive(h.pid))) {
        const who = h.pid === process.pid && h.host === me.host ? 'this process' : `pid ${h.pid} on ${h.host}`;
        throw new GeniusError(
          `${path} is being written by ${who} since ${h.since} (${h.command}); wait for it to finish, or delete ${lockPath} if that process is gone`,
          { code: 'LOCKED' },
        );
      }
      try {
        unlinkSync(lockPath); // stale: its holder died without releasing it
      } catch {
        /* another process removed it first; retry */
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      try {
        if (readHolder(lockPath)?.pid === process.pid) unlinkSync(lockPath);
      } catch {
        /* already gone */
      }
    };
  }
  throw new GeniusError(`cannot lock ${path}: ${lockPath} keeps reappearing`, { code: 'LOCKED' });
}
