#!/usr/bin/env node
// Fetches llama.cpp's source from the npm registry (node-llama-cpp ships it as a git bundle),
// verifies it against pinned hashes, clones it into native/vendor/llama.cpp and applies our
// patches. Idempotent: a stamp file records the finished state, so re-runs cost nothing.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pin = JSON.parse(readFileSync(join(root, 'native', 'llama.pin.json'), 'utf8'));
const cacheDir = join(root, '.cache', 'llama');
const vendorDir = join(root, 'native', 'vendor', 'llama.cpp');
const patchDir = join(root, 'native', 'patches');
const stampFile = join(vendorDir, '.genius-stamp.json');

const log = (msg) => process.stderr.write(`[vendor] ${msg}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }).toString();

function fail(msg) {
  process.stderr.write(`vendor-llama: ${msg}\n`);
  process.exit(1);
}

function sha(algo, file, encoding) {
  return createHash(algo).update(readFileSync(file)).digest(encoding);
}

function patches() {
  if (!existsSync(patchDir)) return [];
  return readdirSync(patchDir)
    .filter((f) => f.endsWith('.patch'))
    .sort();
}

/** The state a finished vendor step leaves; any difference means redo. */
function wantedStamp() {
  const patchHashes = patches().map((f) => [f, sha('sha256', join(patchDir, f), 'hex')]);
  return JSON.stringify({ package: pin.package, commit: pin.commit, patches: patchHashes });
}

function fetchTarball() {
  mkdirSync(cacheDir, { recursive: true });
  const tgz = join(cacheDir, pin.tarball);
  if (!existsSync(tgz)) {
    log(`npm pack ${pin.package}`);
    run('npm', ['pack', pin.package, '--silent', '--pack-destination', cacheDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  const integrity = `sha512-${sha('sha512', tgz, 'base64')}`;
  if (integrity !== pin.integrity) {
    rmSync(tgz, { force: true });
    fail(`integrity mismatch for ${pin.tarball}: got ${integrity}, pinned ${pin.integrity} (file removed; re-run to fetch again)`);
  }
  return tgz;
}

function extractBundle(tgz) {
  const bundle = join(cacheDir, 'gitRelease.bundle');
  if (!existsSync(bundle) || sha('sha256', bundle, 'hex') !== pin.bundleSha256) {
    log('extracting llama/gitRelease.bundle');
    run('tar', ['-xzf', tgz, '-C', cacheDir, '--strip-components=2', 'package/llama/gitRelease.bundle']);
  }
  const got = sha('sha256', bundle, 'hex');
  if (got !== pin.bundleSha256) fail(`bundle sha256 mismatch: got ${got}, pinned ${pin.bundleSha256}`);
  return bundle;
}

function cloneAndPatch(bundle) {
  const tmp = `${vendorDir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(vendorDir), { recursive: true });
  log(`cloning ${pin.commit.slice(0, 12)} into native/vendor/llama.cpp`);
  run('git', ['clone', '--quiet', '--no-checkout', bundle, tmp]);
  run('git', ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', pin.commit], { cwd: tmp });
  const head = run('git', ['rev-parse', 'HEAD'], { cwd: tmp }).trim();
  if (head !== pin.commit) fail(`commit mismatch: got ${head}, pinned ${pin.commit}`);
  for (const p of patches()) {
    log(`applying ${p}`);
    run('git', ['apply', '--whitespace=nowarn', join(patchDir, p)], { cwd: tmp });
  }
  rmSync(vendorDir, { recursive: true, force: true });
  renameSync(tmp, vendorDir);
  writeFileSync(stampFile, wantedStamp());
}

const wanted = wantedStamp();
if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === wanted) {
  log('llama.cpp already vendored and verified');
} else {
  cloneAndPatch(extractBundle(fetchTarball()));
  log('done');
}
