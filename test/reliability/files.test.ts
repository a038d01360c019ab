// Lost or damaged data: a full disk is an error (never a truncated file and success), the JSONL
// appender never touches a file that is not ours and cuts torn lines in bytes, and a second
// writer on the same output is refused with the holder's name.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GeniusError } from '../../src/errors.js';
import { JsonlAppender, writeJsonlAtomic } from '../../src/jsonl.js';
import { lockOutput } from '../../src/lock.js';
import { root, tempDir } from '../helpers.js';

const run = promisify(execFile);
const jsonlModule = join(root, 'dist', 'src', 'jsonl.js');

test('writeJsonlAtomic on a full disk fails and leaves the old file whole (short writes are not success)', async (t) => {
  const dir = tempDir();
  const out = join(dir, 'pairs.jsonl');
  writeFileSync(out, '{"old":true}\n');
  const script = join(dir, 'w.mjs');
  writeFileSync(
    script,
    `const { writeJsonlAtomic } = await import(${JSON.stringify(jsonlModule)});
     try { writeJsonlAtomic(${JSON.stringify(out)}, Array.from({ length: 200 }, (_, i) => ({ i, pad: 'x'.repeat(40) }))); }
     catch (e) { console.error(e.code + ': ' + e.message); process.exit(2); }`,
  );
  // RLIMIT_FSIZE of 2 KiB: the first write is cut short exactly like a disk filling up.
  const r = await run('bash', ['-c', `ulimit -f 2; exec "${process.execPath}" "${script}"`]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.is(r.code, 2, 'must not claim success');
  t.regex(r.stderr, /^IO: cannot write .*pairs\.jsonl: EFBIG/);
  t.is(readFileSync(out, 'utf8'), '{"old":true}\n');
  t.false(existsSync(`${out}.tmp`));
});

test('the appender refuses a file that is not ours and leaves every byte of it alone', (t) => {
  const dir = tempDir();
  const cases: [string, Buffer][] = [
    ['notes.jsonl', Buffer.from('{"mine":1}\n{"mine":2}')], // a user's JSONL without a final newline
    ['model.gguf', Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(64, 7)])], // no newline at all
    ['data.txt', Buffer.from('hello\nworld\nno newline')],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const e = t.throws(() => JsonlAppender.open(path), { instanceOf: GeniusError, message: /was not written by genius/ });
    t.is(e?.code, 'NOT_OURS');
    t.deepEqual(readFileSync(path), bytes, name);
    t.false(existsSync(`${path}.lock`), 'a refused open releases its lock');
  }
});

test('a torn last line is cut in bytes, even after a line with an invalid UTF-8 byte', (t) => {
  const dir = tempDir();
  const path = join(dir, 'out.jsonl');
  const line1 = Buffer.concat([Buffer.from('{"id":1,"config_hash":"h","text":"a'), Buffer.from([0xff]), Buffer.from('b"}\n')]);
  const line2 = Buffer.from('{"id":2,"config_hash":"h"}\n');
  writeFileSync(path, Buffer.concat([line1, line2, Buffer.from('{"id":3,"conf')]));
  const { log, existing } = JsonlAppender.open<{ id: number }>(path);
  log.append({ id: 3, config_hash: 'h' } as never);
  log.close();
  t.deepEqual(
    existing.map((r) => r.id),
    [1, 2],
  );
  t.deepEqual(readFileSync(path), Buffer.concat([line1, line2, Buffer.from('{"id":3,"config_hash":"h"}\n')]));
  // And it reopens cleanly (the old string-based cut left a broken line every resume refused).
  const again = JsonlAppender.open<{ id: number }>(path);
  again.log.close();
  t.deepEqual(
    again.existing.map((r) => r.id),
    [1, 2, 3],
  );
});

test('a torn first record is recovered when the config sidecar says the file is ours', (t) => {
  const dir = tempDir();
  const path = join(dir, 'samples.jsonl');
  writeFileSync(`${path}.config.json`, '{}\n');
  writeFileSync(path, '{"id":1,"config_ha');
  const { log, existing } = JsonlAppender.open(path, { sidecar: `${path}.config.json` });
  log.close();
  t.deepEqual(existing, []);
  t.is(readFileSync(path, 'utf8'), '');
});

test("a second writer is refused with the holder named; a dead holder's lock is taken over", async (t) => {
  const dir = tempDir();
  const path = join(dir, 'out.jsonl');
  const first = JsonlAppender.open(path);
  t.is((t.throws(() => JsonlAppender.open(path)) as GeniusError).code, 'LOCKED');
  first.log.close();
  JsonlAppender.open(path).log.close(); // released on close

  // Another live process holds it.
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { lockOutput } = await import(${JSON.stringify(join(root, 'dist', 'src', 'lock.js'))}); lockOutput(${JSON.stringify(path)}); console.log('held'); setTimeout(() => {}, 60000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const e = t.throws(() => lockOutput(path), { instanceOf: GeniusError });
  t.is(e?.code, 'LOCKED');
  t.regex(e!.message, new RegExp(`being written by pid ${holder.pid} on `));
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  // Killed with -9: its lock file stays, but its pid is gone, so the lock is stale.
  t.true(existsSync(`${path}.lock`));
  const release = lockOutput(path);
  release();
  t.false(existsSync(`${path}.lock`));
});

test('writeJsonlAtomic replaces the file in one rename', (t) => {
  const path = join(tempDir(), 'a.jsonl');
  writeJsonlAtomic(path, [{ a: 1 }, { b: 'é' }]);
  t.is(readFileSync(path, 'utf8'), '{"a":1}\n{"b":"é"}\n');
});
