import { GeniusError } from '../errors.js';
import { writeJsonlAtomic } from '../jsonl.js';
import { generateTask, type Operation, type TaskSplit } from '../task/index.js';

export interface TaskCommand {
  split: TaskSplit;
  n: number;
  seed: number;
  ops?: string;
  maxOperand?: number;
  maxFactor?: number;
  maxValue?: number;
  distractors?: string;
  operations?: string;
  testFraction?: number;
  /** Write only {id, question}: unlabeled queries for self-training. */
  questionsOnly?: boolean;
  out: string;
}

/** "2-6" or "3" as an inclusive range; the flag is named in the error. */
export function parseRange(value: string | undefined, flag: string): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  if (!m) throw new GeniusError(`${flag} must be N or MIN-MAX, got '${value}'`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo) throw new GeniusError(`${flag}: ${hi} is below ${lo}`);
  return [lo, hi];
}

/** `genius task`: the built-in task's problems of one split as GSM8K-format JSONL. */
export function runTaskCommand(o: TaskCommand): void {
  const ops = parseRange(o.ops, '--ops');
  const distractors = parseRange(o.distractors, '--distractors');
  const records = generateTask({
    split: o.split,
    n: o.n,
    seed: o.seed,
    testFraction: o.testFraction,
    difficulty: {
      minOps: ops?.[0],
      maxOps: ops?.[1],
      maxOperand: o.maxOperand,
      maxFactor: o.maxFactor,
      maxValue: o.maxValue,
      minDistractors: distractors?.[0],
      maxDistractors: distractors?.[1],
      operations: o.operations?.split(',').map((s) => s.trim()) as Operation[] | undefined,
    },
  });
  writeJsonlAtomic(o.out, o.questionsOnly ? records.map(({ id, question }) => ({ id, question })) : records);
  process.stderr.write(`task: wrote ${records.length} ${o.split} problems to ${o.out}\n`);
}
