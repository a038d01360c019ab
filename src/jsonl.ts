// JSON Lines files that survive real life: appends are whole lines written to the last byte and
// flushed, a torn last line (a killed writer) is cut off on reopen, but only in a file that is
// ours, and rewrites go through a temporary file, fsync and a rename, so a full disk leaves the
// old file whole and an error instead of a truncated file and exit 0.
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { GeniusError } from './errors.js';
import { lockOutput } from './lock.js';

export interface ReadJsonlOptions {
  strict?: boolean;
  onSkip?: (message: string) => void;
}

/** Parses a JSONL file; malformed lines are reported with their line number (or throw if strict). */
export function readJsonl<T = unknown>(path: string, options: ReadJsonlOptions = {}): T[] {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GeniusError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { code: 'IO' });
  }
  const out: T[] = [];
  raw.split('\n').forEach((line, n) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      const msg = `${path}:${n + 1}: malformed JSON (${(err as Error).message})`;
      if (options.strict) throw new GeniusError(msg);
      options.onSkip?.(`${msg}; skipped`);
    }
  });
  return out;
}

/** Writes every byte of `data` at the file's position: writeSync may write fewer than asked. */
export function writeAll(fd: number, data: string | Uint8Array, path: string): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length;) {
    let n: number;
    try {
      n = writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      throw new GeniusError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { code: 'IO', cause: err });
    }
    if (n <= 0)
      throw new GeniusError(`cannot write ${path}: the disk accepted no more bytes (${off} of ${buf.length} written)`, { code: 'IO' });
    off += n;
  }
}

/** Writes all records at once: to `path.tmp`, every byte, fsync, rename over `path`, fsync the folder. */
export function writeJsonlAtomic(path: string, records: readonly unknown[]): void {
  const tmp = `${path}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (err) {
    throw new GeniusError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { code: 'IO', cause: err });
  }
  try {
    writeAll(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''), path);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw err instanceof GeniusError
      ? err
      : new GeniusError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { code: 'IO', cause: err });
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

function fsyncDir(dir: string): void {
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* some filesystems cannot fsync a directory; the rename itself is still atomic */
  }
}

export interface AppenderOptions {
  /**
   * Whether an existing file is ours, judged on its first complete record (default: a JSON
   * object with a `config_hash`, as sample and eval records have). A file that is not ours is
   * never truncated or appended to.
   */
  owns?: (first: unknown) => boolean;
  /** A file beside the output that exists only if we wrote the output (a config sidecar). */
  sidecar?: string;
  /** Take `<path>.lock` for as long as the appender is open (default true). */
  lock?: boolean;
}

const hasConfigHash = (r: unknown) => typeof r === 'object' && r !== null && !Array.isArray(r) && 'config_hash' in r;

/**
 * An append-only JSONL log, locked against a second writer. Opening it checks that an existing
 * file is ours (first), then cuts a torn last line (no trailing newline: its writer was killed
 * mid-line; the cut is computed in bytes) and returns the complete records already there.
 */
export class JsonlAppender<T> {
  readonly #fd: number;
  readonly #path: string;
  readonly #unlock: () => void;
  private constructor(fd: number, path: string, unlock: () => void) {
    this.#fd = fd;
    this.#path = path;
    this.#unlock = unlock;
  }

  static open<T>(path: string, options: AppenderOptions = {}): { log: JsonlAppender<T>; existing: T[] } {
    const unlock = options.lock === false ? () => {} : lockOutput(path);
    try {
      const existing = existsSync(path) ? JsonlAppender.#recover<T>(path, options) : [];
      return { log: new JsonlAppender<T>(openSync(path, 'a'), path, unlock), existing };
    } catch (err) {
      unlock();
      throw err;
    }
  }

  static #recover<T>(path: string, options: AppenderOptions): T[] {
    const raw = readFileSync(path);
    if (raw.length === 0) return [];
    const end = raw.lastIndexOf(0x0a) + 1; // bytes up to the last newline: the complete lines
    const firstEnd = raw.indexOf(0x0a);
    let ours = options.sidecar !== undefined && existsSync(options.sidecar);
    if (!ours && firstEnd >= 0) {
      try {
        ours = (options.owns ?? hasConfigHash)(JSON.parse(raw.subarray(0, firstEnd).toString('utf8')));
      } catch {
        ours = false;
      }
    }
    if (!ours) {
      throw new GeniusError(
        `${path} exists and was not written by genius (its first line is not one of our records); refusing to append to it or change it: use another output path`,
        { code: 'NOT_OURS' },
      );
    }
    const records: T[] = [];
    let n = 0;
    for (let start = 0; start < end;) {
      const stop = raw.indexOf(0x0a, start);
      const line = raw.subarray(start, stop).toString('utf8');
      n++;
      start = stop + 1;
      if (line.trim() === '') continue;
      try {
        records.push(JSON.parse(line) as T);
      } catch {
        throw new GeniusError(`${path}:${n}: existing output is not valid JSONL; refusing to append to it`, { code: 'NOT_OURS' });
      }
    }
    if (end < raw.length) {
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, end);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    return records;
  }

  /** One record as one whole line, every byte written, flushed to disk. */
  append(record: T): void {
    writeAll(this.#fd, `${JSON.stringify(record)}\n`, this.#path);
    fsyncSync(this.#fd);
  }

  /** Closes the file and releases the lock. */
  close(): void {
    closeSync(this.#fd);
    this.#unlock();
  }
}
