import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, tempDir } from '../helpers.js';

/**
 * bench/device/run.sh --dry-run: the GPU machine's script on this CPU. It must skip what needs
 * CUDA (the build, the CUDA tests) saying why, run what does not, and write results.json.
 * DEVICE_TESTS narrows the test step to the CUDA test file (its tests skip here) to keep it short.
 */
test('the device script runs as a CPU dry run and writes its JSON results', (t) => {
  const out = tempDir('genius-device-');
  const r = spawnSync('bash', ['bench/device/run.sh', '--dry-run'], {
    cwd: root,
    env: { ...process.env, OUT: out, DEVICE_TESTS: 'dist/test/train/cuda.test.js' },
    encoding: 'utf8',
    timeout: 240_000,
  });
  t.is(r.status, 0, r.stderr + r.stdout);
  for (const f of ['results.json', 'steps.txt', 'env.txt', 'tests.tap', 'bench.log']) t.true(existsSync(join(out, f)), f);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  t.true(res.dryRun);
  const step = (name: string) => res.steps.find((s: { step: string }) => s.step === name);
  t.is(step('build').status, 'skipped');
  t.regex(step('build').detail, /dry run/);
  t.is(step('tests').status, 'ok');
  t.is(res.tests.failed, 0);
  t.true(res.tests.skipped >= 7, `${res.tests.skipped} skipped`);
  for (const s of res.tests.tests.filter((x: { status: string }) => x.status === 'skipped')) t.regex(s.reason, /no CUDA device/);
  t.is(step('bench-train').status, 'ok');
  t.true(res.benchTrain.results.length === 2 && res.benchTrain.results.every((x: { tokensPerSecond: number }) => x.tokensPerSecond > 0));
  t.is(step('bench-memory').status, 'ok');
  t.true(res.benchMemory.results.every((x: { totalBytes: number }) => x.totalBytes > 0));
  t.is(step('bench-engine').status, 'skipped');
});
