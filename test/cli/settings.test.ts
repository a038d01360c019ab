import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { fillReadme, flagOf, SETTINGS } from '../../src/cli/docs.js';
import { buildProgram } from '../../src/cli/program.js';
import { DEFAULT_EVALUATION } from '../../src/eval/config.js';
import { DEFAULT_FORESIGHT } from '../../src/foresight/config.js';
import { parseLoopConfig } from '../../src/loop/config.js';
import { DEFAULT_PAIRS } from '../../src/pairs/config.js';
import { fieldDoc } from '../../src/schema.js';
import { DEFAULT_TRAINING } from '../../src/train/config.js';
import { root } from '../helpers.js';

const commandOf = (name: string) => buildProgram().commands.find((c) => c.name() === name) as unknown as CommandUnknownOpts;

test("every settings field has a flag whose default and help text are the schema's", (t) => {
  for (const s of SETTINGS) {
    const cmd = commandOf(s.command);
    const schema = s.schema as z.ZodObject<z.ZodRawShape>;
    for (const key of Object.keys(schema.shape)) {
      const flag = flagOf(cmd, key);
      t.truthy(flag, `genius ${s.command} has no flag for ${s.block}.${key}`);
      const doc = fieldDoc(schema, key);
      // Before parsing, a command holds each option's default (true for a --no-X switch).
      t.deepEqual(cmd.getOptionValue(key), doc.default, `genius ${s.command} ${flag}: default differs from the schema's`);
      // A --no-X switch says what it turns off; every other flag's help is the field's description.
      if (!flag!.startsWith('--no-'))
        t.true(
          cmd.helpInformation().replace(/\s+/g, ' ').includes(doc.description.replace(/\s+/g, ' ')),
          `genius ${s.command} ${flag}: help text is not the schema's`,
        );
    }
  }
});

test("the README's command table and settings tables are the generated ones", (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  t.is(fillReadme(readme), readme, 'README.md is stale: run `npm run docs:readme`');
});

test("the README's example run config is a valid config", (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(yaml);
  const c = parseLoopConfig(parseYaml(yaml!), 'README example');
  t.is(c.training.loss, 'aco');
});

test('the loop config takes every field of every settings schema', (t) => {
  const c = parseLoopConfig({
    out: 'x',
    sampling: { ...DEFAULT_FORESIGHT, chatTemplate: 'chatml', system: 'be brief', concurrency: 3 },
    pairs: DEFAULT_PAIRS,
    training: {
      ...DEFAULT_TRAINING,
      beta: 0.2,
      alpha: 2,
      calibration: 'reference',
      simpoGamma: 1,
      ropoAlpha: 0.2,
      ropoGamma: 0.1,
      loraAlpha: 16,
      loraTargets: ['attn_q'],
    },
    evaluation: { samples: DEFAULT_EVALUATION.samples, temperature: 0.5, maxTokens: 9 },
  });
  t.is(c.sampling.lightThreshold, DEFAULT_FORESIGHT.lightThreshold);
  t.deepEqual(c.sampling.endMarkers, DEFAULT_FORESIGHT.endMarkers);
  t.is(c.sampling.chatTemplate, 'chatml');
  t.is(c.training.loraAlpha, 16);
  t.is(c.evaluation.maxTokens, 9);
  // Unset blocks: pairs and training take the schema defaults; sampling and evaluation stay unset
  // so the built-in preset can fill them under the user's fields.
  const d = parseLoopConfig({ out: 'x' });
  t.deepEqual(d.training, DEFAULT_TRAINING);
  t.deepEqual(d.pairs, DEFAULT_PAIRS);
  t.deepEqual(d.sampling, {});
  t.throws(() => parseLoopConfig({ out: 'x', sampling: { beams: 0 } }), { message: /sampling\.beams/ });
});

/** Parses `args` in-process and returns what commander printed on stderr (empty when parsing succeeded). */
async function usageError(args: string[]): Promise<string> {
  const program = buildProgram();
  let err = '';
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride();
    cmd.configureOutput({ writeErr: (s) => (err += s), writeOut: () => {}, outputError: (s, write) => write(s) });
    // Parsing only: replace the action so a valid command line does nothing.
    if (cmd !== program) cmd.action(() => {});
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch {
    // commander throws after writing the error (exitOverride)
  }
  return err;
}

test('bad numbers are rejected with the flag named, before any work', async (t) => {
  const m = ['--model', 'm.gguf'];
  const cases: [string[], string][] = [
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--concurrency', '0'], '--concurrency'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--threads', '1e9'], '--threads'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--steps', '1e9'], '--steps'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--max-step-tokens', '1e12'], '--max-step-tokens'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--context-size', '1e12'], '--context-size'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--tau', '0'], '--tau'],
    [['sample', ...m, '--queries', 'q', '--out', 'o', '--beams', '1.5'], '--beams'],
    [['generate', ...m, '--prompt', 'p', '--max-tokens', '-1'], '--max-tokens'],
    [['generate', ...m, '--prompt', 'p', '--temperature', '-1'], '--temperature'],
    [['generate', ...m, '--prompt', 'p', '--top-k', '-1'], '--top-k'],
    [['generate', ...m, '--prompt', 'p', '--top-p', '2'], '--top-p'],
    [['generate', ...m, '--prompt', 'p', '--n', '0'], '--n'],
    [['generate', ...m, '--prompt', 'p', '--context-size', '1e12'], '--context-size'],
    [['eval', ...m, '--task', 't', '--concurrency', '0'], '--concurrency'],
    [['eval', ...m, '--task', 't', '--samples', 'two'], '--samples'],
    [['train', ...m, '--pairs', 'p', '--out', 'o', '--lr', '1e10'], '--lr'],
    [['train', ...m, '--pairs', 'p', '--out', 'o', '--epochs', '0'], '--epochs'],
    [['train', ...m, '--pairs', 'p', '--out', 'o', '--alpha', '-1'], '--alpha'],
    [['train', ...m, '--pairs', 'p', '--out', 'o', '--threads', '-2'], '--threads'],
    [['run', '--rounds', '0'], '--rounds'],
    [['task', '--out', 'o', '--ops', '6-2'], '--ops'],
    [['task', '--out', 'o', '--operations', 'add,pow'], '--operations'],
    [['make-model', '--out', 'o', '--seed', '0x10'], '--seed'],
  ];
  for (const [args, flag] of cases) {
    const err = await usageError(args);
    t.regex(err, new RegExp(`option '${flag}[ <]`), `${args.join(' ')}: ${err}`);
    t.is(err.trim().split('\n').length, 1, err);
  }
  // Good values pass, and inf is accepted where it means something (ACO's alpha: DPO).
  t.is(await usageError(['train', ...m, '--pairs', 'p', '--out', 'o', '--alpha', 'inf', '--lr', '5e-7', '--threads', '0']), '');
  t.is(await usageError(['generate', ...m, '--prompt', 'p', '--top-p', '0.9', '--temperature', '0', '--top-k', '40', '--n', '255']), '');
});
