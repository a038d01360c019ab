import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `bench:experiment` reuses a seed's first exploration for the variants that sample alike, and
// the base's evaluation for every run. That is only a saving if the loop, run on its own, would
// have written the same records: a DPO run beside Genius must equal a DPO run alone.
const script = fileURLToPath(new URL('../../bench/experiment.js', import.meta.url));
const experiment = (out: string, variants: string) =>
  spawnSync(
    process.execPath,
    [script, '--seeds', '3,4', '--variants', variants, '--queries', '6', '--eval-questions', '8', '--out', out, '--threads', '1'],
    { encoding: 'utf8', timeout: 300_000 },
  );

/** A run's exploration records without their wall times. */
const records = (dir: string) =>
  readFileSync(join(dir, 'round-0', 'exploration.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

test('a variant that reuses an exploration trains and scores as it would have alone', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'genius-experiment-'));
  try {
    const [beside, alone] = [join(root, 'beside'), join(root, 'alone')];
    const a = experiment(beside, 'genius,dpo');
    t.is(a.status, 0, a.stderr);
    t.regex(a.stderr, /\[dpo seed 3\] resuming: 6 queries already in/, 'the DPO run reused the exploration');
    t.regex(a.stdout, /\| +dpo \| +4 \|.*\(shared\)/);
    const b = experiment(alone, 'dpo');
    t.is(b.status, 0, b.stderr);
    t.notRegex(b.stderr, /resuming/);
    for (const seed of [3, 4])
      t.deepEqual(records(join(beside, `dpo-seed${seed}`)), records(join(alone, `dpo-seed${seed}`)), `seed ${seed}`);
    const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { results: Record<string, number[]> };
    t.deepEqual(results(beside).results.dpo, results(alone).results.dpo);
    t.deepEqual(results(beside).results.base, results(alone).results.base);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
