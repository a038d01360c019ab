// JSON Lines files that survive real life: appends are whole lines, a torn last line (a killed
// writer) is cut off on reopen, and rewrites go through a temporary file and a rename.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, ftruncateSync, writeSync } from 'node:fs';
import { GeniusError } from './errors.js';

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
    throw new GeniusError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
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

/** Writes all records at once: to `path.tmp`, fsync, then rename over `path`. */
export function writeJsonlAtomic(path: string, records: readonly unknown[]): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * An append-only JSONL log. Opening it cuts a torn last line (no trailing newline: its writer was
 * killed mid-line) and returns the complete records already there.
 */
export class JsonlAppender<T> {
  readonly #fd: number;
  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open<T>(path: string): { log: JsonlAppender<T>; existing: T[] } {
    let existing: T[] = [];
    if (existsSync(path)) {
      const raw = readFileSync(path, 'utf8');
      const end = raw.lastIndexOf('\n') + 1;
      if (end < Buffer.byteLength(raw)) {
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, Buffer.byteLength(raw.slice(0, end)));
        closeSync(fd);
      }
      existing = raw
        .slice(0, end)
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l, n) => {
          try {
            return JSON.parse(l) as T;
          } catch {
            throw new GeniusError(`${path}:${n + 1}: existing output is not valid JSONL; refusing to append to it`);
          }
        });
    }
    return { log: new JsonlAppender<T>(openSync(path, 'a')), existing };
  }

  /** One record as one write of one whole line, flushed to disk. */
  append(record: T): void {
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
    fsyncSync(this.#fd);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
