import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { writeJsonlAtomic } from '../jsonl.js';
import { DEFAULT_DIFFICULTY as D, DEFAULT_TEST_FRACTION, generateTask, OPERATIONS, type Operation } from '../task/index.js';
import { runAction } from './action.js';
import { integer, list, probability, range, seed } from './options.js';

/** The operations of a comma-separated list, each one of OPERATIONS. */
function operations(value: string): Operation[] {
  const ops = list(value);
  const bad = ops.find((op) => !(OPERATIONS as readonly string[]).includes(op));
  if (bad !== undefined) throw new InvalidArgumentError(`unknown operation '${bad}' (known: ${OPERATIONS.join(', ')})`);
  return ops as Operation[];
}

/** `genius task`: the built-in task's problems of one split as GSM8K-format JSONL. */
export function taskCommand() {
  return new Command('task')
    .description('the built-in reasoning task: multi-step arithmetic word problems (GSM8K-format JSONL)')
    .addOption(
      new Option('--split <split>', 'which split (decided by a hash of each problem)').choices(['train', 'test'] as const).default('train'),
    )
    .option('--n <n>', 'number of problems', integer(1, 10_000_000), 100)
    .option('--seed <n>', 'seed', seed, 0)
    .option('--ops <range>', `operations per problem, N or MIN-MAX (default: ${D.minOps}-${D.maxOps})`, range)
    .option('--max-operand <n>', `largest starting amount and number added or subtracted (default: ${D.maxOperand})`, integer(1))
    .option('--max-factor <n>', `largest multiplier or divisor (default: ${D.maxFactor})`, integer(1))
    .option('--max-value <n>', `largest running total (default: ${D.maxValue})`, integer(1))
    .option(
      '--distractors <range>',
      `distractor sentences per problem, N or MIN-MAX (default: ${D.minDistractors}-${D.maxDistractors})`,
      range,
    )
    .option('--operations <list>', `comma-separated subset of ${OPERATIONS.join(',')} (default: all)`, operations)
    .option(
      '--final-share <n>',
      `largest number of friends the total is finally shared among equally (0: none; default: ${D.finalShare})`,
      integer(0),
    )
    .option(
      '--share-groups <n>',
      `the final share is among two groups of at least n the solution adds first, so the divisor is no number of the question (0: off; default: ${D.shareGroups})`,
      integer(0),
    )
    .option('--checks', 'each solution line checks itself with the inverse operation ("23 + 8 = 31 and 31 - 8 = 23")')
    .option('--guess', 'guess and check: the question gives the result and asks for the start; the solution guesses it, then works forward')
    .option('--choices <n>', `the question offers n answers, one right (0: none; default: ${D.choices})`, integer(0))
    .option('--choice-spacing <n>', `the gap between the answers offered (default: ${D.choiceSpacing})`, integer(1))
    .option(
      '--test-fraction <x>',
      `share of all problems in the test split (use the same for both splits; default: ${DEFAULT_TEST_FRACTION})`,
      probability,
    )
    .option('--questions-only', 'write only {id, question}: unlabeled queries for self-training')
    .requiredOption('--out <file>', 'output JSONL ({id, question, answer ending "#### N", final, ...})')
    .action((o, cmd) =>
      runAction(cmd, () => {
        const records = generateTask({
          split: o.split,
          n: o.n,
          seed: o.seed,
          testFraction: o.testFraction,
          difficulty: {
            minOps: o.ops?.[0],
            maxOps: o.ops?.[1],
            maxOperand: o.maxOperand,
            maxFactor: o.maxFactor,
            maxValue: o.maxValue,
            minDistractors: o.distractors?.[0],
            maxDistractors: o.distractors?.[1],
            operations: o.operations,
            finalShare: o.finalShare,
            shareGroups: o.shareGroups,
            checks: o.checks,
            guess: o.guess,
            choices: o.choices,
            choiceSpacing: o.choiceSpacing,
          },
        });
        writeJsonlAtomic(o.out, o.questionsOnly ? records.map(({ id, question }) => ({ id, question })) : records);
        process.stderr.write(`task: wrote ${records.length} ${o.split} problems to ${o.out}\n`);
      }),
    );
}
