import { Context } from '../engine/context.js';
import { Model } from '../engine/model.js';
import { DEFAULT_FORESIGHT } from '../foresight/config.js';
import { promptFor } from '../foresight/explore.js';
import { evaluate, loadEvalTask } from '../eval/index.js';
import { GeniusError } from '../errors.js';

export interface EvalCommand {
  model: string;
  adapter?: string;
  task: string;
  field?: string;
  temperature: number;
  samples: number;
  maxTokens: number;
  seed: number;
  out?: string;
  chat: boolean;
  system?: string;
  reasoningPrefix: string;
  concurrency: number;
  threads?: number;
  lastNumber?: boolean;
  json?: boolean;
}

const say = (s: string) => process.stderr.write(`${s}\n`);

/** `genius eval`: accuracy of a model (and adapter) on a task file, with a 95% interval. */
export async function runEvalCommand(o: EvalCommand): Promise<void> {
  if (o.concurrency < 1) throw new GeniusError('--concurrency must be at least 1');
  const items = loadEvalTask(o.task, { field: o.field });
  if (items.length === 0) throw new GeniusError(`${o.task}: no questions`);
  const prompt = { chat: o.chat, system: o.system, reasoningPrefix: o.reasoningPrefix, endMarkers: DEFAULT_FORESIGHT.endMarkers };
  const model = await Model.load(o.model);
  let ctx: Context | undefined;
  try {
    const config = { ...DEFAULT_FORESIGHT, ...prompt };
    const longest = Math.max(...items.map((q) => promptFor(model, q.question, config).length));
    const concurrency = Math.min(o.concurrency, items.length);
    const maxSequences = Math.min(256, concurrency * (o.samples + 1));
    ctx = await Context.create(model, { sequenceContextSize: longest + o.maxTokens + 8, maxSequences, threads: o.threads, waitMs: 600_000 });
    const r = await evaluate(ctx, model, items, { ...o, prompt, concurrency: Math.max(1, Math.floor(maxSequences / (o.samples + 1))), log: say });
    if (o.json) {
      const { records: _, ...summary } = r;
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      process.stdout.write(`accuracy ${r.accuracy.toFixed(4)} (95% CI ${r.low.toFixed(4)}-${r.high.toFixed(4)}) on ${r.n} questions x ${r.samples} samples${o.out ? `; per question: ${o.out}` : ''}\n`);
    }
  } finally {
    ctx?.dispose();
    model.dispose();
  }
}
