import { SingleBar } from 'cli-progress';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CALIBRATIONS, LOSSES, resolveLossConfig, type Calibration } from '../losses/index.js';
import { runTraining } from '../train/run.js';
import { Trainer } from '../train/trainer.js';
import { runAction } from './run.js';

const num = (v: string): number => {
  const n = v === 'inf' || v === 'Infinity' ? Infinity : Number(v);
  if (Number.isNaN(n)) throw new InvalidArgumentError('must be a number');
  return n;
};
const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
};

interface TrainFlags {
  model: string;
  adapter?: string;
  pairs: string;
  out: string;
  loss: string;
  beta?: number;
  alpha?: number;
  calibration: Calibration;
  simpoGamma?: number;
  ropoAlpha?: number;
  ropoGamma?: number;
  lr: number;
  epochs: number;
  batchPairs: number;
  gradAccum: number;
  microBatchTokens: number;
  loraRank: number;
  loraAlpha?: number;
  loraTargets?: string;
  full?: boolean;
  maxSeqLen: number;
  truncation: 'truncate' | 'drop';
  seed: number;
  reference: string;
  warmupRatio: number;
  weightDecay: number;
  maxGradNorm: number;
  checkpointEvery: number;
  backend: 'cpu' | 'cuda';
  threads: number;
  system?: string;
  chat: boolean;
  reasoningPrefix?: string;
  json?: boolean;
}

/** `genius train` and `genius merge-adapter`. */
export function registerTrain(program: Command, verbose: () => boolean): void {
  program
    .command('train')
    .description('train on preference pairs with ACO (default) or a baseline loss; writes adapter.gguf (or model.gguf with --full), metrics.jsonl, checkpoints')
    .requiredOption('--model <path>', 'GGUF model (llama, qwen2, qwen3)')
    .option('--adapter <path>', 'continue training this LoRA adapter (the reference is then model + adapter)')
    .requiredOption('--pairs <file>', 'pairs JSONL (genius pairs, or TRL prompt/chosen/rejected strings)')
    .requiredOption('--out <dir>', 'run directory (resumes if it holds a checkpoint of the same run)')
    .addOption(new Option('--loss <name>', 'loss').choices(LOSSES).default('aco'))
    .option('--beta <x>', 'beta (default per loss: aco/dpo/ropo 0.1, ipo 0.5, simpo 2)', num)
    .option('--alpha <x>', 'ACO calibration temperature (default 1; inf = DPO)', num)
    .addOption(new Option('--calibration <kind>', 'ACO weight: paper min(1, e^-(Al-Aw)/alpha) or reference (released code) max(1, ...)').choices(CALIBRATIONS).default('paper'))
    .option('--simpo-gamma <x>', 'SimPO margin (default 1)', num)
    .option('--ropo-alpha <x>', 'ROPO sigmoid-term weight (default 0.2)', num)
    .option('--ropo-gamma <x>', 'ROPO log-sigmoid-term weight (default 0.1)', num)
    .option('--lr <x>', 'peak learning rate (paper: 5e-7 full-weight; LoRA wants more)', num, 5e-7)
    .option('--epochs <n>', 'passes over the pairs', int, 1)
    .option('--batch-pairs <n>', 'pairs per forward/backward graph', int, 4)
    .option('--grad-accum <n>', 'graphs per optimizer step (paper: 128 pairs per step in all)', int, 1)
    .option('--micro-batch-tokens <n>', 'token budget of one graph', int, 2048)
    .option('--lora-rank <n>', 'LoRA rank', int, 16)
    .option('--lora-alpha <x>', 'LoRA alpha (default 2 * rank)', num)
    .option('--lora-targets <list>', 'comma-separated modules (attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down or q_proj,...)')
    .option('--full', 'train every weight (F32) instead of a LoRA adapter')
    .option('--max-seq-len <n>', 'prompt + response tokens (paper: 1300)', int, 1300)
    .addOption(new Option('--truncation <policy>', 'over-long pairs: cut responses, or drop the pair').choices(['truncate', 'drop']).default('truncate'))
    .option('--seed <n>', 'shuffling and LoRA initialisation', int, 0)
    .option('--reference <spec>', 'reference log-probs from: engine, trainer (its own forward: exact and batch-independent), or onnx:PATH', 'engine')
    .option('--warmup-ratio <x>', 'linear warmup share of the steps', num, 0.1)
    .option('--weight-decay <x>', 'AdamW weight decay', num, 0)
    .option('--max-grad-norm <x>', 'clip the gradient norm (0: off)', num, 1)
    .option('--checkpoint-every <n>', 'optimizer steps between checkpoints', int, 50)
    .addOption(new Option('--backend <name>', 'training backend').choices(['cpu', 'cuda']).default('cpu'))
    .option('--threads <n>', 'CPU threads (0: all)', int, 0)
    .option('--system <text>', 'system turn the sampler used')
    .option('--no-chat', 'the sampler used raw queries, not the chat template')
    .option('--reasoning-prefix <text>', 'text the sampler put after the prompt')
    .option('--json', 'print the summary as one JSON object')
    .action((f: TrainFlags) =>
      runAction(verbose(), async () => {
        const loss = resolveLossConfig(f.loss, { beta: f.beta, alpha: f.alpha, calibration: f.calibration, simpoGamma: f.simpoGamma, ropoAlpha: f.ropoAlpha, ropoGamma: f.ropoGamma });
        const bar = process.stderr.isTTY ? new SingleBar({ format: 'train [{bar}] {value}/{total} steps | loss {loss} | acc {acc} | {tps} tok/s', stream: process.stderr, hideCursor: true }) : undefined;
        let started = false;
        const summary = await runTraining({
          model: f.model,
          ...(f.adapter ? { adapter: f.adapter } : {}),
          pairs: f.pairs,
          out: f.out,
          loss,
          lr: f.lr,
          epochs: f.epochs,
          batchPairs: f.batchPairs,
          gradAccum: f.gradAccum,
          microBatchTokens: f.microBatchTokens,
          full: f.full ?? false,
          lora: { rank: f.loraRank, ...(f.loraAlpha !== undefined ? { alpha: f.loraAlpha } : {}), ...(f.loraTargets ? { targets: f.loraTargets.split(',').map((s) => s.trim()) } : {}) },
          maxSeqLen: f.maxSeqLen,
          truncation: f.truncation,
          seed: f.seed,
          reference: f.reference,
          warmupRatio: f.warmupRatio,
          weightDecay: f.weightDecay,
          maxGradNorm: f.maxGradNorm,
          checkpointEvery: f.checkpointEvery,
          backend: f.backend,
          threads: f.threads,
          prompt: { chat: f.chat, ...(f.system !== undefined ? { system: f.system } : {}), ...(f.reasoningPrefix !== undefined ? { reasoningPrefix: f.reasoningPrefix } : {}) },
          onStep: (m, total) => {
            if (!bar) return;
            if (!started) bar.start(total, 0, { loss: '-', acc: '-', tps: '-' });
            started = true;
            bar.update(m.step, { loss: m.loss.toFixed(4), acc: m['rewards/accuracies'].toFixed(2), tps: Math.round(m.tokens_per_s) });
          },
        });
        bar?.stop();
        if (f.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const l = summary.last;
        process.stdout.write(
          `${summary.output}: ${summary.steps} steps on ${summary.pairs} pairs (${summary.dropped} dropped, ${summary.truncated} truncated) in ${summary.seconds.toFixed(1)} s` +
            (l ? `; last step loss ${l.loss.toFixed(4)}, margin ${l['rewards/margins'].toFixed(4)}, accuracy ${l['rewards/accuracies'].toFixed(2)}` : '') +
            `\nmetrics: ${summary.metrics}\n`,
        );
      }),
    );

  program
    .command('merge-adapter')
    .description('write a full F32 GGUF with a LoRA adapter folded into the base weights')
    .requiredOption('--model <path>', 'base GGUF model')
    .requiredOption('--adapter <path>', 'LoRA adapter GGUF (llama.cpp format)')
    .requiredOption('--out <path>', 'merged GGUF to write (atomically)')
    .action((f: { model: string; adapter: string; out: string }) =>
      runAction(verbose(), async () => {
        // baseWeights f32: every matrix of the merged file is F32, whatever the base's types.
        const trainer = await Trainer.create({ model: f.model, adapter: f.adapter, threads: 1, baseWeights: 'f32' });
        try {
          await trainer.saveModel(f.out);
        } finally {
          trainer.dispose();
        }
        process.stdout.write(`${f.out}\n`);
      }),
    );
}
