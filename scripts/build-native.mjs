#!/usr/bin/env node
// Builds the addon: vendor llama.cpp (idempotent), then the one CMake build through cmake-js.
// `--out DIR` builds in another folder (binding.gyp uses this so node-gyp's own build/ files
// are left alone) and copies the addon to build/Release/genius.node, where the loader looks.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outIdx = process.argv.indexOf('--out');
const out = outIdx > 0 ? resolve(root, process.argv[outIdx + 1]) : join(root, 'build');
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');

const run = (args) => {
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  } catch {
    process.stderr.write(`build-native: step failed: ${args.map((a) => a.replace(root + '/', '')).join(' ')} (see the output above)\n`);
    process.exit(1);
  }
};
run([join(root, 'scripts', 'vendor-llama.mjs')]);
run([cmakeJs, 'compile', '--out', out]);
const built = join(out, 'Release', 'genius.node');
const target = join(root, 'build', 'Release', 'genius.node');
if (built !== target) {
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(built, target);
}
