import { Command } from '@commander-js/extra-typings';
import { parseLoopConfig, readLoopConfig } from '../loop/config.js';
import { runLoop } from '../loop/run.js';
import { runAction } from './action.js';
import { integer, LIMITS, seed, threads } from './options.js';
import { loopEvents, printLoopSummary } from './progress.js';

/** `genius run`: the self-training loop from a config file and/or flags. */
export function runCommand() {
  return new Command('run')
    .description(
      'the self-training loop: per round foresight sampling -> pairs -> ACO training -> evaluation; resumable; writes a run directory with a report',
    )
    .option('--config <file>', 'JSON or YAML run config (flags below override it)')
    .option('--model <path>', 'GGUF model, or builtin (default)')
    .option('--adapter <path>', 'LoRA adapter to start from')
    .option('--queries <file>', 'unlabeled queries JSONL, or builtin (default)')
    .option('--eval <file>', 'labeled eval set (GSM8K-format JSONL), or builtin (default)')
    .option('--no-eval', 'no evaluation')
    .option('--out <dir>', 'run directory')
    .option('--rounds <n>', 'self-training rounds', integer(1, LIMITS.passes))
    .option('--seed <n>', 'seed of every stage', seed)
    .option('--threads <n>', 'CPU threads (0: all)', threads)
    .option('--json', 'print the summary as one JSON object')
    .action((f, cmd) =>
      runAction(cmd, async () => {
        const overrides: Record<string, unknown> = {};
        for (const k of ['model', 'adapter', 'queries', 'out', 'rounds', 'seed', 'threads'] as const)
          if (f[k] !== undefined) overrides[k] = f[k];
        // --no-eval gives false, --eval FILE a string; the config's eval is a path or null.
        if (f.eval === false) overrides.eval = null;
        else if (typeof f.eval === 'string') overrides.eval = f.eval;
        const config = f.config ? readLoopConfig(f.config, overrides) : parseLoopConfig(overrides, 'flags');
        const { events, done } = loopEvents();
        const summary = await runLoop(config, events);
        done();
        if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else printLoopSummary(summary);
      }),
    );
}
