// TAP (ava --tap) on stdin -> {passed, failed, skipped, tests: [{title, status, reason?}]} on stdout.
import { readFileSync } from 'node:fs';

const tests = [];
for (const line of readFileSync(0, 'utf8').split('\n')) {
  const m = /^(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\s*(.*))?$/.exec(line);
  if (!m) continue;
  const status = m[3] === 'SKIP' ? 'skipped' : m[1] === 'ok' ? 'passed' : 'failed';
  const skip = /\(skipped: (.*)\)$/.exec(m[2]);
  tests.push({ title: m[2], status, ...(skip ? { reason: skip[1] } : {}) });
}
const count = (s) => tests.filter((t) => t.status === s).length;
process.stdout.write(
  JSON.stringify({ passed: count('passed'), failed: count('failed'), skipped: count('skipped'), tests }, null, 2) + '\n',
);
