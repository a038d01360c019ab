// Training throughput and memory: ACO steps on P pairs of L-token sequences (prompt + response),
// LoRA and full-weight, next to (1) the rollout engine scoring the same tokens (forward only) and
// (2) the same step in PyTorch + transformers + peft (bench/torch_train.py: what TRL runs on),
// in the same run. Our steps and the peer's alternate, and so do the modes (LoRA, full), so a shared
// machine's drift hits all; the table gives each side's median and best step and the ratio of the medians.
//
//   node dist/bench/train-peer.js [--shape small | --model builtin|PATH] [--pairs 4] [--tokens 512]
//                            [--prompt 64] [--steps 3] [--rank 16] [--backend cpu|cuda]
//                            [--threads 0] [--modes lora,full] [--peer torch|none] [--python python3]
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BUILTIN_MODEL_PATH } from '../src/builtin/index.js';
import { Context } from '../src/engine/context.js';
import { Model } from '../src/engine/model.js';
import { packageRoot } from '../src/engine/native.js';
import { Trainer } from '../src/train/trainer.js';
import type { ShapeName } from '../src/modelmaker/index.js';
import { benchModel, machine, printTable, acoBenchStep, timed, benchArgs, ACO_STEP_OPTIONS } from './common.js';

const opt = benchArgs(import.meta.url, {
  ...ACO_STEP_OPTIONS,
  model: { type: 'string' },
  peer: { type: 'string', default: 'torch' },
  python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
});
const P = Number(opt.pairs),
  L = Number(opt.tokens),
  Lp = Number(opt.prompt),
  steps = Number(opt.steps),
  rank = Number(opt.rank);
const backend = opt.backend as 'cpu' | 'cuda';
const threads = Number(opt.threads) || availableParallelism();

const modelPath = opt.model === 'builtin' ? BUILTIN_MODEL_PATH : (opt.model ?? (await benchModel(opt.shape as ShapeName, 'f32')));
const modelName = opt.model === 'builtin' ? 'built-in genius-tiny' : (opt.model ?? `${opt.shape} F32`);
const probe = await Model.load(modelPath);
const vocab = probe.info.vocabSize;
const parameters = probe.info.parameterCount;
probe.dispose();
const { seqs, tokensPerStep, loss } = acoBenchStep(P, L, Lp, vocab);

/** The PyTorch side: one Python process, one JSON line per command and per answer. */
class TorchPeer {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /** Starts the peer; undefined (with the reason printed) when Python or a package is missing. */
  static async start(batchFile: string): Promise<TorchPeer | undefined> {
    const script = join(packageRoot, 'bench', 'torch_train.py');
    const child = spawn(opt.python, [script, '--model', modelPath, '--batch', batchFile, '--threads', String(threads)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<undefined>((resolve) =>
      child.on('error', (e) =>
        resolve(
          void console.log(
            `PyTorch peer skipped (cannot run ${opt.python}: ${e.message}); install: pip install torch transformers peft gguf`,
          ),
        ),
      ),
    );
    const peer = new TorchPeer(child);
    const first = await Promise.race([peer.next().catch(() => undefined), failed]);
    if (!first || 'skip' in first || 'error' in first) {
      if (first && 'skip' in first) console.log(first.skip);
      else if (first) console.log(`PyTorch peer failed: ${String(first.error)}`);
      else if (stderr) console.log(`PyTorch peer failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      child.kill();
      return undefined;
    }
    console.log(
      `peer: PyTorch ${String(first.torch)}, transformers ${String(first.transformers)}, peft ${String(first.peft)}, ${String(first.threads)} threads`,
    );
    return peer;
  }

  private async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error('the PyTorch peer exited');
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  async send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(JSON.stringify(cmd) + '\n');
    const r = await this.next();
    if ('error' in r) throw new Error(`PyTorch peer: ${String(r.error)}`);
    return r;
  }

  stop(): void {
    this.child.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: (string | number)[][] = [];
const notes: string[] = [];

// Baseline: the engine scores the same sequences (teacher forcing, no gradients).
{
  const model = await Model.load(modelPath);
  const ctx = await Context.create(model, { maxSequences: 2 * P, sequenceContextSize: L + 256, threads });
  await Promise.all(seqs.map((s) => ctx.score(s.prompt, s.response)));
  const { seconds } = await timed(() => Promise.all(seqs.map((s) => ctx.score(s.prompt, s.response))));
  rows.push(['engine score (forward)', tokensPerStep / seconds, '-', '-', '-', '-', '-']);
  ctx.dispose();
  model.dispose();
}

const dir = mkdtempSync(join(tmpdir(), 'genius-bench-train-'));
const batchFile = join(dir, 'batch.json');
writeFileSync(batchFile, JSON.stringify({ sequences: seqs, loss }));
const peer = opt.peer === 'torch' ? await TorchPeer.start(batchFile) : undefined;
const median_tps: Record<string, { ours: number; peer?: number }> = {};
const modes = opt.modes.split(',');
const trainers = new Map<string, Trainer>();
try {
  // Every mode on both sides is set up first, then the timed steps go round all of them
  // (ours lora, PyTorch lora, ours full, PyTorch full, ...), so the LoRA / full ratio is interleaved too.
  for (const mode of modes)
    trainers.set(mode, await Trainer.create({ model: modelPath, full: mode === 'full', lora: { rank }, backend, threads }));
  const ours = async (mode: string) => {
    const trainer = trainers.get(mode)!;
    const t = await timed(async () => {
      await trainer.zeroGrad();
      const r = await trainer.accumulate(seqs, loss);
      await trainer.step({ lr: 1e-6 });
      return r;
    });
    return { seconds: t.seconds, loss: t.value.loss, chosen: t.value.chosen };
  };
  for (const mode of modes) {
    if (peer) await peer.send({ cmd: 'setup', mode, rank, alpha: 2 * rank });
    // The first step of each side (warm-up, not timed) starts from the same weights: compare them.
    const first = await ours(mode);
    if (peer) {
      const p = await peer.send({ cmd: 'step', mode, lr: 1e-6 });
      const dl = Math.max(...first.chosen.map((c, i) => Math.abs(c - (p.chosen as number[])[i]!) / Math.abs(c)));
      notes.push(
        `${mode}: step-0 loss ours ${first.loss.toFixed(6)} vs PyTorch ${(p.loss as number).toFixed(6)}; max relative difference of the chosen sequence log-probs ${dl.toExponential(1)}`,
      );
    }
  }
  const oursS = new Map(modes.map((m) => [m, [] as number[]]));
  const peerS = new Map(modes.map((m) => [m, [] as number[]]));
  for (let i = 0; i < steps; i++) {
    for (const mode of modes) {
      oursS.get(mode)!.push((await ours(mode)).seconds);
      if (peer) peerS.get(mode)!.push((await peer.send({ cmd: 'step', mode, lr: 1e-6 })).seconds as number);
    }
  }
  for (const mode of modes) {
    const o = oursS.get(mode)!,
      p = peerS.get(mode)!;
    const info = trainers.get(mode)!.info;
    const label = `${mode}${mode === 'lora' ? ` r=${rank}` : ''}`;
    const tps = tokensPerStep / median(o);
    median_tps[mode] = { ours: tps, ...(peer ? { peer: tokensPerStep / median(p) } : {}) };
    rows.push([
      `genius ${label} (ACO step)`,
      tps,
      tokensPerStep / Math.min(...o),
      peer ? tokensPerStep / median(p) : '-',
      peer ? tokensPerStep / Math.min(...p) : '-',
      peer ? median(p) / median(o) : '-',
      `${(info.memoryBytes / 2 ** 20).toFixed(0)} / ${(info.peakGraphBytes / 2 ** 20).toFixed(0)}`,
    ]);
  }
} finally {
  for (const t of trainers.values()) t.dispose();
  peer?.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `# training: ${modelName} (${parameters} parameters, vocab ${vocab}), ${P} pairs x ${L} tokens (${Lp} prompt; ${tokensPerStep} tokens/step), backend ${backend}, ${threads} threads, ${machine()}, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
);
printTable(
  ['run', 'tok/s (median)', 'tok/s (best)', 'PyTorch tok/s (median)', 'PyTorch tok/s (best)', 'genius / PyTorch', 'trainer / graph MiB'],
  rows,
);
console.log(
  `${steps} timed steps per side and mode, interleaved (ours, PyTorch, for each mode in turn), after one warm-up step each; the ratio is of the medians.`,
);
if (median_tps.lora && median_tps.full) {
  const f = (m: { ours: number; peer?: number }, n: { ours: number; peer?: number }) =>
    `genius ${(m.ours / n.ours).toFixed(2)}x${m.peer && n.peer ? `, PyTorch ${(m.peer / n.peer).toFixed(2)}x` : ''}`;
  console.log(`LoRA step vs full-weight step (tokens/s): ${f(median_tps.lora, median_tps.full)}`);
}
for (const n of notes) console.log(n);
