import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, tempDir, tinyRandomLlama2 } from '../helpers.js';

function genius(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('info --json prints one JSON object', (t) => {
  const r = genius('info', '--model', tinyRandomLlama2, '--json');
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 1);
  const info = JSON.parse(lines[0]!);
  t.is(info.architecture, 'llama');
  t.is(info.vocabSize, 32000);
  t.is(info.layerCount, 1);
});

test('tokenize prints a JSON array, --special adds BOS', (t) => {
  const plain = genius('tokenize', '--model', tinyRandomLlama2, 'Hello world');
  t.is(plain.code, 0, plain.stderr);
  const ids = JSON.parse(plain.stdout) as number[];
  t.true(Array.isArray(ids) && ids.length >= 2);
  const special = genius('tokenize', '--model', tinyRandomLlama2, '--special', 'Hello world');
  t.deepEqual(JSON.parse(special.stdout), [1, ...ids]);
});

test('make-model writes a model that info reads back', (t) => {
  const out = join(tempDir(), 'm.gguf');
  const r = genius('make-model', '--arch', 'qwen3', '--shape', 'tiny', '--vocab', 'builtin', '--dtype', 'f16', '--seed', '4', '--out', out, '--json');
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(out));
  const info = JSON.parse(genius('info', '--model', out, '--json').stdout);
  t.is(info.architecture, 'qwen3');
  t.is(info.vocabSize, JSON.parse(r.stdout).vocabSize);
});

test('failures exit non-zero with one line naming the cause, no stack trace', (t) => {
  const dir = tempDir();
  const txt = join(dir, 'notes.txt');
  writeFileSync(txt, 'hello');
  const cases: [string[], RegExp][] = [
    [['info', '--model', join(dir, 'missing.gguf')], /model file not found/],
    [['info', '--model', txt], /not a GGUF file/],
    [['tokenize', '--model', txt, 'hi'], /not a GGUF file/],
    [['make-model', '--shape', 'nope', '--out', join(dir, 'x.gguf')], /nope/],
    [['make-model', '--seed', 'abc', '--out', join(dir, 'x.gguf')], /integer/],
    [['info'], /--model/],
  ];
  for (const [args, pattern] of cases) {
    const r = genius(...args);
    t.not(r.code, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(lines[0]!, pattern);
    t.notRegex(r.stderr, /\n\s+at /);
  }
  const verbose = genius('--verbose', 'info', '--model', txt);
  t.regex(verbose.stderr, /\n\s+at /);
});
