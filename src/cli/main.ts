#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { Model } from '../engine/model.js';
import { makeModel, SHAPES, ARCHITECTURES } from '../modelmaker/index.js';
import { runDemo } from './demo.js';
import { runGenerate, runScore } from './generate.js';
import { runJoinCommand, runPairsCommand, runSampleCommand } from './sample.js';
import { REJECTED_MODES } from '../pairs/build.js';
import { STRATEGIES } from '../foresight/selection.js';
import { DEFAULT_FORESIGHT as D } from '../foresight/config.js';
import { runAction } from './run.js';
import { registerExportOnnx } from './export-onnx.js';
import { registerTrain } from './train.js';
import { registerLoop } from './loop.js';
import { registerProbe } from './probe.js';
import { runTaskCommand } from './task.js';
import { runEvalCommand } from './eval.js';
import { runReportCommand } from './report.js';

// Output piped into `head` and the like: a closed pipe ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command()
  .name('genius')
  .description('Label-free self-training of LLM reasoning (Genius, ACL 2025) on a native llama.cpp engine')
  .option('--verbose', 'print stack traces on errors');

const verbose = () => Boolean(program.opts().verbose);

function parseIntArg(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

program
  .command('info')
  .description('print a GGUF model\'s shape, vocabulary, chat template and special tokens')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--json', 'one JSON object')
  .option('--vocab-only', 'read only the tokenizer (vocab GGUF files)')
  .action((opts: { model: string; json?: boolean; vocabOnly?: boolean }) =>
    runAction(verbose(), async () => {
      const model = await Model.load(opts.model, { vocabOnly: opts.vocabOnly });
      const info = model.info;
      model.dispose();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(info)}\n`);
        return;
      }
      const rows: [string, unknown][] = [
        ['architecture', info.architecture],
        ['name', info.name],
        ['parameters', info.parameterCount],
        ['layers', info.layerCount],
        ['embedding', info.embeddingLength],
        ['heads (kv)', `${info.headCount} (${info.headCountKv})`],
        ['vocab', `${info.vocabSize} (${info.vocabType})`],
        ['context (train)', info.contextLength],
        ['bos/eos/eot', `${info.specialTokens.bos}/${info.specialTokens.eos}/${info.specialTokens.eot}`],
        ['chat template', info.chatTemplate === null ? '(none)' : info.chatTemplate.length > 60 ? `${info.chatTemplate.slice(0, 60)}...` : info.chatTemplate],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(16)} ${String(v)}\n`);
    }),
  );

program
  .command('tokenize')
  .description('print the token ids of TEXT as a JSON array')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--special', 'add BOS/EOS as the model says and parse special-token text')
  .argument('<text>', 'text to tokenize')
  .action((text: string, opts: { model: string; special?: boolean }) =>
    runAction(verbose(), async () => {
      const model = await Model.load(opts.model, { vocabOnly: true });
      const ids = model.tokenize(text, { addSpecial: opts.special, parseSpecial: opts.special });
      model.dispose();
      process.stdout.write(`${JSON.stringify(ids)}\n`);
    }),
  );

program
  .command('make-model')
  .description('write a llama-family GGUF with seeded random weights')
  .addOption(new Option('--arch <arch>', 'architecture').choices([...ARCHITECTURES]).default('llama'))
  .addOption(new Option('--shape <name>', 'named shape').choices(Object.keys(SHAPES)).default('tiny'))
  .option('--vocab <path|builtin>', 'tokenizer: a GGUF to copy it from, or the built-in vocabulary', 'builtin')
  .addOption(new Option('--dtype <dtype>', 'weight type of the matrices').choices(['f32', 'f16']).default('f32'))
  .option('--seed <n>', 'random seed', parseIntArg, 0)
  .requiredOption('--out <path>', 'output GGUF path')
  .option('--json', 'print the result as JSON')
  .action((opts: { arch: 'llama' | 'qwen2' | 'qwen3'; shape: keyof typeof SHAPES; vocab: string; dtype: 'f32' | 'f16'; seed: number; out: string; json?: boolean }) =>
    runAction(verbose(), async () => {
      const made = await makeModel({ out: opts.out, arch: opts.arch, shape: opts.shape, vocab: opts.vocab, dtype: opts.dtype, seed: opts.seed });
      if (opts.json) process.stdout.write(`${JSON.stringify(made)}\n`);
      else process.stdout.write(`wrote ${made.path}: ${opts.arch}/${opts.shape}, ${made.parameterCount} parameters, vocab ${made.vocabSize}, ${made.fileBytes} bytes\n`);
    }),
  );

function parseFloatArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
}

const collect = (value: string, previous: string[]) => [...previous, value];

program
  .command('generate')
  .description('sample N completions of a prompt (forked from one prefill) with per-token log-probs')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--adapter <path>', 'LoRA adapter GGUF to attach')
  .requiredOption('--prompt <text>', 'prompt text')
  .option('--chat', 'wrap the prompt in the model\'s chat template as a user turn')
  .option('--n <n>', 'number of completions', parseIntArg, 1)
  .option('--max-tokens <n>', 'tokens per completion', parseIntArg, 128)
  .option('--temperature <x>', 'sampling temperature (0 = greedy)', parseFloatArg, 1)
  .option('--top-k <n>', 'top-k (0 = off)', parseIntArg, 0)
  .option('--top-p <x>', 'top-p (1 = off)', parseFloatArg, 1)
  .option('--seed <n>', 'seed of the first completion (the i-th uses seed + i)', parseIntArg, 0)
  .option('--stop <text>', 'stop string (repeatable)', collect, [])
  .option('--context-size <n>', 'KV cells (default: what the request needs)', parseIntArg)
  .option('--json', 'one JSON object per completion: text, tokens, logprobs, finish')
  .action((opts) => runAction(verbose(), () => runGenerate(opts)));

program
  .command('score')
  .description('per-token log-probs of every token after the first, given its prefix')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--text <text>', 'text to tokenize (with BOS as the model says) and score')
  .option('--tokens <ids>', 'token ids, space or comma separated')
  .addOption(new Option('--flash-attn <mode>', 'flash attention').choices(['on', 'off', 'auto']).default('auto'))
  .addOption(new Option('--kv-type <type>', 'KV cache type').choices(['f16', 'f32']).default('f16'))
  .option('--json', 'one JSON object: tokens, logprobs, sum')
  .action((opts) => runAction(verbose(), () => runScore(opts)));

program
  .command('sample')
  .description('stepwise foresight re-sampling over unlabeled queries: one exploration record per query (JSONL)')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--adapter <path>', 'LoRA adapter GGUF to sample with')
  .requiredOption('--queries <file>', 'queries: JSONL or a JSON array of objects')
  .requiredOption('--out <file>', 'exploration JSONL (appended; re-runs resume)')
  .option('--field <name>', 'question field (default: instruction, query, prompt or question)')
  .option('--beams <M>', 'step beam size M', parseIntArg, D.beams)
  .option('--rollouts <N>', 'candidate steps per beam N', parseIntArg, D.rollouts)
  .option('--steps <K>', 'foresight steps K', parseIntArg, D.steps)
  .option('--tau <x>', 'selection temperature of F = softmax(f / tau)', parseFloatArg, D.tau)
  .option('--step-temperature <x>', 'temperature of candidate steps', parseFloatArg, D.stepTemperature)
  .option('--foresight-temperature <x>', 'temperature of foresight rollouts and final completions', parseFloatArg, D.foresightTemperature)
  .option('--max-step-tokens <n>', 'tokens per candidate step', parseIntArg, D.maxStepTokens)
  .option('--max-rollout-tokens <n>', 'tokens per foresight rollout / final completion', parseIntArg, D.maxRolloutTokens)
  .addOption(new Option('--strategy <name>', 'beam selection').choices([...STRATEGIES]).default(D.strategy))
  .option('--light', 'skip rollouts when every candidate step is confident (mean log-prob > -0.25)')
  .option('--reasoning-prefix <text>', 'opens the assistant turn', D.reasoningPrefix)
  .option('--no-chat', 'use the query as raw text instead of the chat template')
  .option('--system <text>', 'system turn before the query')
  .option('--concurrency <C>', 'queries in flight', parseIntArg, 8)
  .option('--seed <n>', 'seed', parseIntArg, 0)
  .option('--shard <i/n|auto>', 'this worker\'s shard (auto: Kubernetes Indexed Job or Slurm array)')
  .option('--shard-count <n>', 'shard count for --shard auto on Kubernetes', parseIntArg)
  .option('--strict', 'stop at the first malformed input line')
  .option('--context-size <n>', 'KV cells per sequence (default: longest prompt + K steps + rollout)', parseIntArg)
  .option('--threads <n>', 'CPU threads', parseIntArg)
  .action((opts) => runAction(verbose(), () => runSampleCommand(opts)));

program
  .command('pairs')
  .description('preference pairs (reference JSONL format) from an exploration file')
  .requiredOption('--in <file>', 'exploration JSONL (genius sample or the reference code)')
  .requiredOption('--out <file>', 'pairs JSONL')
  .addOption(new Option('--rejected <mode>', 'categorical: re-sample from F without the chosen (paper); uniform: the released code; lowest: the lowest-scored (the paper\'s "w/o sampling")').choices([...REJECTED_MODES]).default('categorical'))
  .option('--tau <x>', 'selection temperature (default: the exploration\'s, else 0.1)', parseFloatArg)
  .option('--max-chars <n>', 'leave out trajectories this long or longer', parseIntArg, 10000)
  .option('--keep-identical', 'keep pairs whose chosen and rejected responses are identical (the authors\' code does)')
  .option('--seed <n>', 'seed', parseIntArg, 0)
  .option('--strict', 'stop at the first malformed record')
  .action((opts) => runAction(verbose(), async () => runPairsCommand(opts)));

program
  .command('join')
  .description('join shard outputs of genius sample into one file in query order')
  .requiredOption('--out <file>', 'joined JSONL')
  .argument('<shards...>', 'shard files')
  .action((shards: string[], opts: { out: string }) => runAction(verbose(), async () => runJoinCommand(opts.out, shards)));

program
  .command('task')
  .description('the built-in reasoning task: multi-step arithmetic word problems (GSM8K-format JSONL)')
  .addOption(new Option('--split <split>', 'which split (decided by a hash of each problem)').choices(['train', 'test']).default('train'))
  .option('--n <n>', 'number of problems', parseIntArg, 100)
  .option('--seed <n>', 'seed', parseIntArg, 0)
  .option('--ops <range>', 'operations per problem, N or MIN-MAX', '2-6')
  .option('--max-operand <n>', 'largest starting amount and number added or subtracted', parseIntArg)
  .option('--max-factor <n>', 'largest multiplier or divisor', parseIntArg)
  .option('--max-value <n>', 'largest running total', parseIntArg)
  .option('--distractors <range>', 'distractor sentences per problem, N or MIN-MAX', '0-2')
  .option('--operations <list>', 'comma-separated subset of add,sub,mul,div', 'add,sub,mul,div')
  .option('--test-fraction <x>', 'share of all problems in the test split (use the same for both splits)', parseFloatArg)
  .option('--questions-only', 'write only {id, question}: unlabeled queries for self-training')
  .requiredOption('--out <file>', 'output JSONL ({id, question, answer ending "#### N", final, ...})')
  .action((opts) => runAction(verbose(), async () => runTaskCommand(opts)));

program
  .command('eval')
  .description('accuracy of a model on a task file (GSM8K-format JSONL) with a 95% Wilson interval')
  .requiredOption('--model <path>', 'GGUF model file')
  .option('--adapter <path>', 'LoRA adapter GGUF to evaluate')
  .requiredOption('--task <file>', 'questions with gold answers: JSONL or a JSON array (question, answer ending "#### N")')
  .option('--field <name>', 'question field (default: instruction, query, prompt or question)')
  .option('--temperature <x>', 'sampling temperature (0 = greedy)', parseFloatArg, 0)
  .option('--samples <k>', 'samples per question', parseIntArg, 1)
  .option('--max-tokens <n>', 'tokens per response', parseIntArg, 256)
  .option('--seed <n>', 'seed', parseIntArg, 0)
  .option('--out <file>', 'per-question JSONL (appended; re-runs resume)')
  .option('--last-number', 'with no marked answer, grade the response\'s last number')
  .option('--reasoning-prefix <text>', 'opens the assistant turn', D.reasoningPrefix)
  .option('--no-chat', 'use the question as raw text instead of the chat template')
  .option('--system <text>', 'system turn before the question')
  .option('--concurrency <C>', 'questions in flight', parseIntArg, 32)
  .option('--threads <n>', 'CPU threads', parseIntArg)
  .option('--json', 'print the result as one JSON object')
  .action((opts) => runAction(verbose(), () => runEvalCommand(opts)));

registerExportOnnx(program, verbose);
registerTrain(program, verbose);
registerLoop(program, verbose);
registerProbe(program, verbose);

program
  .command('report')
  .description('write a run directory\'s self-contained HTML report (training curves, eval per round, foresight trees)')
  .requiredOption('--run <dir>', 'run directory (metrics.jsonl, rounds.jsonl, round-<r>/exploration.jsonl, round-<r>/pairs.jsonl)')
  .option('--out <file>', 'HTML path (default: <run>/report.html)')
  .option('--queries <n>', 'queries shown in the foresight-tree view', parseIntArg, 3)
  .option('--tau <x>', 'selection temperature for F in the tree view', parseFloatArg)
  .action((opts) => runAction(verbose(), async () => runReportCommand(opts)));

program
  .command('demo')
  .description('the main job: genius run on the built-in model, queries and eval set (resumes if interrupted)')
  .option('--dir <path>', 'run directory', 'runs/demo')
  .option('--rounds <n>', 'self-training rounds (default 2)', parseIntArg)
  .action((opts: { dir: string; rounds?: number }) => runAction(verbose(), () => runDemo(opts.dir, opts.rounds)));

await program.parseAsync(process.argv);
