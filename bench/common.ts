// Shared pieces of the benchmarks: the benchmark model, seeded tokens, timing and a table.
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { packageRoot, type ModelDtype, type NativeLossSpec } from '../src/engine/native.js';
import { makeModel, type ShapeName } from '../src/modelmaker/index.js';
import type { TrainSequence } from '../src/train/trainer.js';

const cacheDir = join(packageRoot, '.cache', 'bench');

type BenchOptionSpecs = NonNullable<ParseArgsConfig['options']>;

/**
 * A benchmark's command-line options (node's `parseArgs`, strict). `--help` prints each option
 * with its default; an unknown or malformed option prints the cause and that list and exits with
 * status 2, not a stack trace.
 */
export function benchArgs<O extends BenchOptionSpecs>(
  script: string,
  options: O,
): ReturnType<typeof parseArgs<{ options: O & { help: { type: 'boolean' } }; strict: true }>>['values'] {
  const spec = { ...options, help: { type: 'boolean' as const, short: 'h' } };
  const usage = () =>
    [
      `usage: node dist/bench/${basename(script).replace(/\.[jt]s$/, '.js')} [options]`,
      ...Object.entries(options).map(
        ([name, o]) =>
          `  --${name}${o.type === 'string' ? ' <value>' : ''}${o.default !== undefined ? ` (default: ${String(o.default)})` : ''}`,
      ),
    ].join('\n');
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ options: spec, strict: true }).values;
  } catch (e) {
    process.stderr.write(`${basename(script)}: ${(e as Error).message}\n${usage()}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  return values as ReturnType<typeof benchArgs<O>>;
}

/** The options of the ACO training-step benchmarks (`bench:train`, `bench:train-peer`): one definition, one set of defaults. */
export const ACO_STEP_OPTIONS = {
  shape: { type: 'string', default: 'small' },
  pairs: { type: 'string', default: '4' },
  tokens: { type: 'string', default: '512' },
  prompt: { type: 'string', default: '64' },
  steps: { type: 'string', default: '3' },
  rank: { type: 'string', default: '16' },
  backend: { type: 'string', default: 'cpu' },
  threads: { type: 'string', default: '0' },
  modes: { type: 'string', default: 'lora,full' },
} as const satisfies BenchOptionSpecs;

/** The benchmarks' cache folder (.cache/bench), created on first use. */
export function benchDir(): string {
  mkdirSync(cacheDir, { recursive: true });
  return cacheDir;
}

/** The benchmark model (made once, cached under .cache/bench). */
export async function benchModel(shape: ShapeName = 'small', dtype: ModelDtype = 'f16', vocab = 'builtin'): Promise<string> {
  const vocabTag =
    vocab === 'builtin'
      ? 'builtin'
      : vocab
          .split('/')
          .pop()!
          .replace(/\.gguf$/, '');
  const path = join(benchDir(), `${shape}-${dtype}-${vocabTag}.gguf`);
  if (!existsSync(path)) await makeModel({ out: path, shape, dtype, vocab, seed: 1 });
  return path;
}

/** Seeded pseudo-random ordinary token ids (skipping the first `skip` special ids). */
export function seededTokens(n: number, seed: number, vocabSize: number, skip = 5): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return skip + ((s >>> 0) % (vocabSize - skip));
  });
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'cpu'} x${c.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padStart(widths[i]!)).join(' | ')} |`;
  console.log(line(cells[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of cells.slice(1)) console.log(line(r));
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
}

/**
 * The benchmarks' ACO step: P pairs of seeded L-token sequences (the first Lp tokens the prompt),
 * cached reference log-probs and w = 0.7 (inside the calibration region), so both sides of a
 * comparison run exactly the same step.
 */
export function acoBenchStep(
  P: number,
  L: number,
  Lp: number,
  vocab: number,
): { seqs: TrainSequence[]; tokensPerStep: number; loss: NativeLossSpec } {
  const seqs: TrainSequence[] = Array.from({ length: 2 * P }, (_, i) => {
    const t = seededTokens(L, 100 + i, vocab);
    return { prompt: t.slice(0, Lp), response: t.slice(Lp) };
  });
  const tokensPerStep = seqs.reduce((a, s) => a + s.prompt.length + s.response.length, 0);
  const loss: NativeLossSpec = {
    type: 'aco',
    beta: 0.1,
    weight: Array<number>(P).fill(0.7),
    refChosen: Array<number>(P).fill(-3000),
    refRejected: Array<number>(P).fill(-3000),
    scale: 1 / P,
  };
  return { seqs, tokensPerStep, loss };
}
