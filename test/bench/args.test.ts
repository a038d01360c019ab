import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The benchmarks are user commands too (`npm run bench:fork -- --queries 8`): a bad option says
// what is wrong and what the options are, it does not end in a stack trace.
const fork = fileURLToPath(new URL('../../bench/fork.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [fork, ...args], { encoding: 'utf8', timeout: 60_000 });

test('a benchmark given an unknown option names it, lists the options and exits with status 2', (t) => {
  const r = run('--bogus');
  t.is(r.status, 2);
  t.regex(r.stderr, /fork\.js: Unknown option '--bogus'/);
  t.regex(r.stderr, /--rollout-tokens <value> \(default: 128\)/);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});

test('a benchmark option without its value is an error, --help the list of options', (t) => {
  const missing = run('--queries');
  t.is(missing.status, 2);
  t.regex(missing.stderr, /argument missing/);
  const help = run('--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: node dist\/bench\/fork\.js \[options\]\n/);
  t.regex(help.stdout, /--kv-unified \(default: false\)/);
});
