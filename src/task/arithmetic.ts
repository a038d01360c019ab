// The built-in reasoning task: multi-step arithmetic word problems written in a small character
// set, solved one step per line and ending in GSM8K's marked final answer ("#### N").
import { createHash } from 'node:crypto';
import { GeniusError } from '../errors.js';
import { mixSeed, Rng } from '../foresight/selection.js';

/** The four operations a problem chains; division is always exact. */
export const OPERATIONS = ['add', 'sub', 'mul', 'div'] as const;
/** One of `OPERATIONS`. */
export type Operation = (typeof OPERATIONS)[number];

/** The split a problem belongs to: a function of the problem itself, so splits never overlap. */
export type TaskSplit = 'train' | 'test';

/** Knobs that make problems harder or easier. */
export interface TaskDifficulty {
  /** Fewest operations per problem (issue: 2). */
  minOps: number;
  /** Most operations per problem (issue: 6). */
  maxOps: number;
  /** Largest starting amount and largest number added or subtracted. */
  maxOperand: number;
  /** Largest multiplier or divisor (at least 2). */
  maxFactor: number;
  /** Largest running total a problem may reach. */
  maxValue: number;
  /** Fewest distractor sentences (numbers that play no part in the answer). */
  minDistractors: number;
  /** Most distractor sentences. */
  maxDistractors: number;
  /** Operations to draw from; with two or more, every problem of 2+ operations mixes at least two. */
  operations: Operation[];
  /**
   * Largest number of friends the total is finally shared among equally (0: no final share). The
   * question then asks for one friend's share, an exact division of the chain's result: a wrong
   * step earlier usually leaves a total that does not divide, the kind of redundancy that lets a
   * model's own view of the future tell a wrong step from a right one.
   */
  finalShare: number;
  /**
   * With `finalShare`: 0 (off), or the smallest of two groups the friends come in, which the
   * question counts apart ("among 2 friends and 3 cousins"); the solution adds them after the chain
   * (`2 + 3 = 5`) before it divides, so the divisor is no number of the question and a model cannot
   * bend a wrong total towards one it divides (with the divisor in the question, 70% of the
   * built-in model's wrong totals were multiples of it, against 38% by chance: bench/RESULTS.md).
   * Groups of at least g leave divisors from 2g to `finalShare`. Default 0.
   */
  shareGroups: number;
  /**
   * Each solution line checks itself with the inverse operation (`23 + 8 = 31 and 31 - 8 = 23`):
   * a check the model has to compute, as it ends on a number the line's result gives, so a wrong
   * result shows as a check that does not return to where the line began. Default false.
   */
  checks: boolean;
  /**
   * Guess and check: the question gives the chain's result and asks for the starting amount
   * ("now he has 41 apples. how many apples did tom have at first?"); the solution guesses it on
   * its first line (`guess 10`) and then works the chain forward from the guess, so its last line
   * ends on the number the question gives only when the guess is right. Finding the start is an
   * inversion the model does not write out; checking a guess is forward arithmetic, so a wrong
   * guess can show in the model's view of the rest of the solution (how far it does:
   * bench/RESULTS.md). The final answer is the start. Excludes `finalShare`. Default false.
   */
  guess: boolean;
  /**
   * 0 (off), or how many answers the question offers, `choiceSpacing` apart, holding the right one
   * at a random place. With `guess` ("did tom have 9 or 10 or 11 or 12 apples at first?") a
   * multiple choice keeps the guess within reach of a small model, and the forward check still
   * tells the right choice from its neighbours; without it ("does tom have 37 or 42 or 47 or 52
   * apples now?"; no final share) an answer line must be one of them, so a wrong total that is no
   * choice shows where the answer is written. At most 6. Default 0.
   */
  choices: number;
  /** With `choices`: the gap between the answers offered (at least 1). Default 1. */
  choiceSpacing: number;
}

/** The task's default difficulty: 2-6 operations, operands up to 20, factors up to 5, totals up to 200, 0-2 distractors. */
export const DEFAULT_DIFFICULTY: TaskDifficulty = {
  minOps: 2,
  maxOps: 6,
  maxOperand: 20,
  maxFactor: 5,
  maxValue: 200,
  minDistractors: 0,
  maxDistractors: 2,
  operations: [...OPERATIONS],
  finalShare: 0,
  shareGroups: 0,
  checks: false,
  guess: false,
  choices: 0,
  choiceSpacing: 1,
};

/** One problem, GSM8K-compatible: `answer` is the solution, one step per line, ending "#### N". */
export interface TaskRecord {
  id: string;
  question: string;
  /** Step-by-step solution; its last line is `#### <final>`. */
  answer: string;
  /** The final answer as a number. */
  final: number;
  split: TaskSplit;
  /** Operations in the chain (the solution lines of one attempt, less the guess, the answer line and the line adding the groups of `shareGroups`). */
  ops: number;
  distractors: number;
  /** Written by a sloppy solver (`GenerateTaskOptions.sloppy`): `answer` holds slips, `final` does not. */
  sloppy?: true;
}

/** Starts the final-answer line of every solution (GSM8K's marker). */
export const ANSWER_MARKER = '####';

/** Starts the first line of a guess-and-check solution (`TaskDifficulty.guess`). */
export const GUESS_MARKER = 'guess';

/** Fraction of all problems that belong to the test split (by hash of the problem). */
export const DEFAULT_TEST_FRACTION = 0.2;

/** One operation of a chain: `value op operand = result`; `share` marks the final equal share. */
interface Link {
  op: Operation;
  operand: number;
  share?: true;
  /** For a share among two groups: the first group's size (the second is `operand` minus it). */
  group?: number;
}

const SYMBOL: Record<Operation, string> = { add: '+', sub: '-', mul: '*', div: '/' };

// Surface text. Every word the task can print is below, so a tokenizer vocabulary can cover it.
const PEOPLE = [
  { name: 'tom', he: 'he', him: 'him' },
  { name: 'ann', he: 'she', him: 'her' },
  { name: 'sam', he: 'he', him: 'him' },
  { name: 'mia', he: 'she', him: 'her' },
  { name: 'leo', he: 'he', him: 'him' },
  { name: 'zoe', he: 'she', him: 'her' },
  { name: 'ben', he: 'he', him: 'him' },
  { name: 'eva', he: 'she', him: 'her' },
] as const;
type Person = (typeof PEOPLE)[number];
const ITEMS = ['apples', 'books', 'coins', 'marbles', 'cookies', 'pencils', 'cards', 'stickers', 'shells', 'stamps'] as const;

type Phrase = (p: Person, n: number) => string;
const PHRASES: Record<Operation, Phrase[]> = {
  add: [(p, n) => `${p.he} buys ${n} more.`, (p, n) => `${p.he} finds ${n} more.`, (p, n) => `a friend gives ${p.him} ${n} more.`],
  sub: [(p, n) => `${p.he} gives away ${n}.`, (p, n) => `${p.he} sells ${n}.`, (p, n) => `${p.he} loses ${n}.`],
  mul: [(p, n) => `then ${p.he} has ${n} times as many.`, (p, n) => `${p.he} ends up with ${n} times as many.`],
  div: [(p, n) => `${p.he} splits them into ${n} equal groups and keeps one.`, (p, n) => `${p.he} keeps one of ${n} equal shares.`],
};
const DISTRACTORS: ((p: Person, other: Person, n: number, item: string) => string)[] = [
  (_p, o, n, item) => `${o.name} has ${n} ${item}.`,
  (p, _o, n) => `${p.he} is ${n} years old.`,
  (_p, o, n) => `${o.name} lives ${n} miles away.`,
  (p, _o, n, item) => `${p.he} wants ${n} ${item} next week.`,
];

/** Characters the task's text (questions and solutions) is written in. */
export const TASK_ALPHABET = ' \nabcdefghijklmnopqrstuvwxyz0123456789.?=+-*/#';

/**
 * Every word the task prints besides numbers (lowercase, sorted), so a tokenizer vocabulary can be
 * built from it: with the digits and TASK_ALPHABET's punctuation it covers all task text.
 */
export function taskWords(): string[] {
  const words = new Set<string>();
  const add = (text: string) =>
    text
      .split(/[^a-z]+/)
      .filter(Boolean)
      .forEach((w) => words.add(w));
  const others = PEOPLE.slice(0, 2);
  for (const p of PEOPLE) {
    for (const phrases of Object.values(PHRASES)) for (const f of phrases) add(f(p, 2));
    for (const item of ITEMS) for (const f of DISTRACTORS) add(f(p, others[0]!, 2, item));
    for (const item of ITEMS)
      add(openingOf(p, 2, item) + questionOf(p, item) + questionOf(p, item, [1, 2]) + shareOf(p, 2, item) + groupShareOf(p, 1, 1, item));
    for (const item of ITEMS)
      add(guessOpeningOf(p, item) + guessQuestionOf(p, 2, item) + guessQuestionOf(p, 2, item, [1, 2]) + GUESS_MARKER);
  }
  return [...words].sort();
}

const openingOf = (p: Person, n: number, item: string) => `${p.name} has ${n} ${item}.`;
const questionOf = (p: Person, item: string, choices: readonly number[] = []) =>
  choices.length ? `does ${p.name} have ${choices.join(' or ')} ${item} now?` : `how many ${item} does ${p.name} have now?`;
const guessOpeningOf = (p: Person, item: string) => `${p.name} has some ${item}.`;
const guessQuestionOf = (p: Person, result: number, item: string, choices: readonly number[] = []) =>
  `now ${p.he} has ${result} ${item}. ` +
  (choices.length ? `did ${p.name} have ${choices.join(' or ')} ${item} at first?` : `how many ${item} did ${p.name} have at first?`);
const shareOf = (p: Person, n: number, item: string) =>
  `${p.he} shares them equally among ${n} friends. how many ${item} does each friend get?`;
const groupShareOf = (p: Person, friends: number, cousins: number, item: string) =>
  `${p.he} shares them equally among ${friends} friends and ${cousins} cousins. how many ${item} does each of them get?`;

/** The result of one operation (division only ever applied where it is exact). */
function apply(value: number, { op, operand }: Link): number {
  switch (op) {
    case 'add':
      return value + operand;
    case 'sub':
      return value - operand;
    case 'mul':
      return value * operand;
    case 'div':
      return value / operand;
  }
}

const randInt = (rng: Rng, lo: number, hi: number) => lo + rng.int(hi - lo + 1);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** The operands `op` may take from `value`, keeping every total a positive integer <= maxValue. */
function operandsFor(op: Operation, value: number, d: TaskDifficulty): number[] {
  const range = (lo: number, hi: number) => (hi < lo ? [] : Array.from({ length: hi - lo + 1 }, (_, i) => lo + i));
  switch (op) {
    case 'add':
      return range(1, Math.min(d.maxOperand, d.maxValue - value));
    case 'sub':
      return range(1, Math.min(d.maxOperand, value - 1));
    case 'mul':
      return range(2, Math.min(d.maxFactor, Math.floor(d.maxValue / value)));
    case 'div':
      return range(2, Math.min(d.maxFactor, value)).filter((k) => value % k === 0);
  }
}

/** Draws a chain of operations; undefined when the draw got stuck (the caller redraws). */
function drawChain(rng: Rng, d: TaskDifficulty): { start: number; links: Link[] } | undefined {
  const count = randInt(rng, d.minOps, d.maxOps);
  const start = randInt(rng, 2, d.maxOperand);
  const links: Link[] = [];
  let value = start;
  for (let i = 0; i < count; i++) {
    const open = d.operations.filter((op) => operandsFor(op, value, d).length > 0);
    if (open.length === 0) return undefined;
    const op = pick(rng, open);
    const operand = pick(rng, operandsFor(op, value, d));
    links.push({ op, operand });
    value = apply(value, { op, operand });
  }
  if (d.operations.length > 1 && links.length > 1 && new Set(links.map((l) => l.op)).size < 2) return undefined;
  if (d.finalShare >= 2) {
    const fewest = Math.max(2, 2 * d.shareGroups);
    const friends = Array.from({ length: d.finalShare - fewest + 1 }, (_, i) => i + fewest).filter((k) => value % k === 0);
    if (friends.length === 0) return undefined;
    const operand = pick(rng, friends);
    // Drawn only with the knob on, so problems without it stay what they were.
    links.push({
      op: 'div',
      operand,
      share: true,
      ...(d.shareGroups ? { group: randInt(rng, d.shareGroups, operand - d.shareGroups) } : {}),
    });
  }
  return { start, links };
}

/** The problem stripped of its wording: the split and de-duplication key. */
function canonical(start: number, links: readonly Link[]): string {
  return [start, ...links.map((l) => `${SYMBOL[l.op]}${l.operand}`)].join(' ');
}

/**
 * The split a problem belongs to: the first 32 bits of sha256(canonical chain), as a fraction,
 * below `testFraction` means test. A function of the arithmetic alone, so a train and a test
 * problem never share a chain whatever their seeds, wording or difficulty knobs.
 */
export function splitOf(canonicalChain: string, testFraction = DEFAULT_TEST_FRACTION): TaskSplit {
  const h = createHash('sha256').update(canonicalChain).digest().readUInt32BE(0) / 2 ** 32;
  return h < testFraction ? 'test' : 'train';
}

/** Words the problem with its distractors, and writes its solution, one step per line. */
function writeProblem(
  rng: Rng,
  d: TaskDifficulty,
  start: number,
  links: readonly Link[],
): { question: string; answer: string; final: number; distractors: number; choices: number[] } {
  const person = pick(rng, PEOPLE);
  const item = pick(rng, ITEMS);
  const share = links.at(-1)?.share ? links.at(-1) : undefined;
  const sentences = links.filter((l) => !l.share).map((l) => pick(rng, PHRASES[l.op])(person, l.operand));
  const distractors = randInt(rng, d.minDistractors, d.maxDistractors);
  // Kinds of distractor cycle from a random start, so a problem never states two ages.
  const first = rng.int(DISTRACTORS.length);
  for (let i = 0; i < distractors; i++) {
    const other = pick(
      rng,
      PEOPLE.filter((p) => p !== person),
    );
    const text = DISTRACTORS[(first + i) % DISTRACTORS.length]!(person, other, randInt(rng, 2, d.maxOperand), pick(rng, ITEMS));
    sentences.splice(rng.int(sentences.length + 1), 0, text);
  }
  const gold = solutionOf(start, links, d.checks, d.guess);
  const choices = d.choices ? choicesAround(rng, gold.final, d.choices, d.choiceSpacing) : [];
  const ask = d.guess
    ? guessQuestionOf(person, gold.result, item, choices)
    : !share
      ? questionOf(person, item, choices)
      : share.group
        ? groupShareOf(person, share.group, share.operand - share.group, item)
        : shareOf(person, share.operand, item);
  const opening = d.guess ? guessOpeningOf(person, item) : openingOf(person, start, item);
  const question = [opening, ...sentences, ask].join(' ');
  return { question, answer: gold.answer, final: gold.final, distractors, choices };
}

/** Most answers a multiple-choice question offers. */
const MAX_CHOICES = 6;

/**
 * `count` positive answers `spacing` apart holding `right` at a uniformly drawn place (of the
 * places that keep every answer >= 1), so the answers offered say nothing of which one is right.
 */
function choicesAround(rng: Rng, right: number, count: number, spacing: number): number[] {
  const below = rng.int(Math.min(count, Math.floor((right - 1) / spacing) + 1));
  return Array.from({ length: count }, (_, i) => right + (i - below) * spacing);
}

/** The operation that undoes each one (for a line's check). */
const INVERSE: Record<Operation, Operation> = { add: 'sub', sub: 'add', mul: 'div', div: 'mul' };

/** One solution line: `value op operand = result`, with its inverse check when `checks`. */
function lineOf(value: number, l: Link, result: number, checks: boolean): string {
  const line = `${value} ${SYMBOL[l.op]} ${l.operand} = ${result}`;
  if (!checks) return line;
  return `${line} and ${result} ${SYMBOL[INVERSE[l.op]]} ${l.operand} = ${apply(result, { op: INVERSE[l.op], operand: l.operand })}`;
}

/**
 * A solution of the chain, one line per operation, ending `#### N`; with `guess`, it opens with
 * `guess <start>` and N is the start (`result` is what the chain gives, for the question). With
 * `slip`, a sloppy solver writes it: each addition or subtraction's result is off (by 1, 2 or 10) with probability
 * `slip.rate`, a division that no longer comes out exact is rounded, and every later line carries
 * the wrong number on; checks are always computed honestly from what was written, so a slip shows
 * as a check that does not return to where its line began.
 */
function solutionOf(
  start: number,
  links: readonly Link[],
  checks: boolean,
  guess: boolean,
  slip?: { rate: number; rng: Rng },
): { answer: string; final: number; result: number } {
  const steps: string[] = guess ? [`${GUESS_MARKER} ${start}`] : [];
  let value = start;
  for (const l of links) {
    if (l.group) steps.push(`${l.group} + ${l.operand - l.group} = ${l.operand}`);
    let next = apply(value, l);
    if (l.op === 'div' && !Number.isInteger(next)) next = Math.max(1, Math.round(next));
    if (slip && (l.op === 'add' || l.op === 'sub') && slip.rng.next() < slip.rate) next = Math.max(0, next + pick(slip.rng, SLIPS));
    steps.push(lineOf(value, l, next, checks));
    value = next;
  }
  const final = guess ? start : value;
  return { answer: [...steps, `${ANSWER_MARKER} ${final}`].join('\n'), final, result: value };
}

/**
 * A guess-and-check solution that first tries a wrong answer (one of the other `choices`, or one
 * within 3 of the start when none are offered), works it forward honestly to a result the question
 * does not give, then guesses again, rightly; undefined when no wrong answer keeps every line a
 * positive integer.
 */
function retryAnswer(rng: Rng, d: TaskDifficulty, start: number, links: readonly Link[], choices: readonly number[]): string | undefined {
  const near = choices.length ? choices : Array.from({ length: 7 }, (_, i) => start - 3 + i);
  const valid = (guess: number) => {
    let value = guess;
    for (const l of links) {
      value = apply(value, l);
      if (!Number.isInteger(value) || value < 1) return false;
    }
    return true;
  };
  const wrong = near.filter((v) => v >= 1 && v !== start && valid(v));
  if (wrong.length === 0) return undefined;
  const first = solutionOf(pick(rng, wrong), links, d.checks, true).answer.split('\n').slice(0, -1);
  return [...first, solutionOf(start, links, d.checks, true).answer].join('\n');
}

/** How far a sloppy solver's result is off. */
const SLIPS = [-10, -2, -1, 1, 2, 10] as const;

/** Rejects knobs that cannot make a problem, naming the knob. */
export function resolveDifficulty(partial: Partial<TaskDifficulty> = {}): TaskDifficulty {
  const d: TaskDifficulty = { ...DEFAULT_DIFFICULTY, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  const int = (v: number, name: string, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new GeniusError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  int(d.minOps, 'minOps', 1);
  int(d.maxOps, 'maxOps', d.minOps);
  int(d.maxOperand, 'maxOperand', 2);
  int(d.maxFactor, 'maxFactor', 2);
  int(d.maxValue, 'maxValue', d.maxOperand + 1);
  int(d.minDistractors, 'minDistractors', 0);
  int(d.maxDistractors, 'maxDistractors', d.minDistractors);
  if (d.finalShare !== 0) int(d.finalShare, 'finalShare', 2);
  int(d.shareGroups, 'shareGroups', 0);
  if (typeof d.checks !== 'boolean') throw new GeniusError(`checks must be true or false, got ${String(d.checks)}`);
  if (typeof d.guess !== 'boolean') throw new GeniusError(`guess must be true or false, got ${String(d.guess)}`);
  int(d.choices, 'choices', 0);
  if (d.choices === 1 || d.choices > MAX_CHOICES) throw new GeniusError(`choices must be 0 or 2-${MAX_CHOICES}, got ${d.choices}`);
  if (d.choices && d.finalShare !== 0)
    throw new GeniusError(`choices offer the final answer, which a final share asks otherwise (finalShare ${d.finalShare}: set it to 0)`);
  int(d.choiceSpacing, 'choiceSpacing', 1);
  if (d.guess && d.finalShare !== 0)
    throw new GeniusError(`guess asks for the starting amount, so it excludes a final share (finalShare ${d.finalShare}: set it to 0)`);
  if (d.shareGroups > 0 && d.finalShare < 2 * d.shareGroups)
    throw new GeniusError(
      `shareGroups ${d.shareGroups} needs a final share among at least two such groups, finalShare >= ${2 * d.shareGroups} (got ${d.finalShare})`,
    );
  if (d.operations.length === 0) throw new GeniusError('operations must name at least one of add, sub, mul, div');
  const unknown = d.operations.find((op) => !OPERATIONS.includes(op));
  if (unknown) throw new GeniusError(`unknown operation '${unknown}' (known: ${OPERATIONS.join(', ')})`);
  d.operations = [...new Set(d.operations)];
  return d;
}

/** What `generateTask` makes: split, count, seed, difficulty. */
export interface GenerateTaskOptions {
  split: TaskSplit;
  /** Problems to make. */
  n: number;
  seed: number;
  difficulty?: Partial<TaskDifficulty>;
  /** Share of all problems in the test split; train and test must be made with the same value. */
  testFraction?: number;
  /**
   * A corpus with sloppy solvers in it (for pretraining a model, never for evaluation): this share
   * of the problems get a solution with at least one slip (see `solutionOf`; each addition or
   * subtraction slips with probability `slipRate`), marked `sloppy`; `final` stays the gold answer.
   * A model trained on it learns that a check which fails means more slips ahead, so its own view
   * of a wrong step's future is less certain. Default: none.
   */
  sloppy?: { share: number; slipRate: number };
  /**
   * With `guess`, for pretraining a model (never for evaluation): this share of the solutions first
   * try a wrong answer and work it forward honestly before the right guess (see `retryAnswer`), so
   * a model learns to compute a guess's lines from the guess, not to bend them towards the total
   * the question gives (which a corpus of right guesses alone teaches). `final` stays the start.
   */
  retryShare?: number;
}

/**
 * The built-in task: `n` distinct problems of one split, the same for the same options. Problems
 * are drawn from a seeded stream; those whose chain hashes into the other split, or repeat one
 * already drawn, are skipped. Cost: about n / (share of the split) draws, microseconds each.
 */
export function generateTask(options: GenerateTaskOptions): TaskRecord[] {
  const d = resolveDifficulty(options.difficulty);
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) throw new GeniusError(`testFraction must be in (0, 1), got ${testFraction}`);
  if (!Number.isInteger(options.n) || options.n < 0) throw new GeniusError(`n must be a non-negative integer, got ${options.n}`);
  const rng = new Rng(mixSeed('genius-task', options.seed, options.split));
  // Slips draw from their own stream, so a sloppy corpus holds the same problems as a careful one.
  const slipRng = new Rng(mixSeed('genius-task-slips', options.seed, options.split));
  if (options.sloppy) checkSloppy(options.sloppy);
  // Retries draw from their own stream too.
  const retryRng = new Rng(mixSeed('genius-task-retries', options.seed, options.split));
  if (options.retryShare !== undefined) checkRetryShare(options.retryShare, d);
  const seen = new Set<string>();
  const out: TaskRecord[] = [];
  const maxDraws = 1000 + 200 * options.n;
  for (let draws = 0; out.length < options.n; draws++) {
    if (draws >= maxDraws) {
      throw new GeniusError(
        `only ${out.length} distinct ${options.split} problems found in ${draws} draws; widen the difficulty knobs or ask for fewer`,
      );
    }
    const chain = drawChain(rng, d);
    if (!chain) continue;
    const key = canonical(chain.start, chain.links);
    if (seen.has(key) || splitOf(key, testFraction) !== options.split) continue;
    seen.add(key);
    const p = writeProblem(rng, d, chain.start, chain.links);
    const sloppy =
      options.sloppy && slipRng.next() < options.sloppy.share
        ? sloppyAnswer(slipRng, d, chain.start, chain.links, options.sloppy.slipRate)
        : undefined;
    const retry =
      options.retryShare && retryRng.next() < options.retryShare
        ? retryAnswer(retryRng, d, chain.start, chain.links, p.choices)
        : undefined;
    out.push({
      id: `${options.split}-${options.seed}-${out.length}`,
      question: p.question,
      answer: retry ?? sloppy ?? p.answer,
      final: p.final,
      split: options.split,
      ops: chain.links.length,
      distractors: p.distractors,
      ...(sloppy ? { sloppy: true as const } : {}),
    });
  }
  return out;
}

function checkRetryShare(share: number, d: TaskDifficulty): void {
  if (!(share >= 0 && share <= 1)) throw new GeniusError(`retryShare must be in [0, 1], got ${share}`);
  if (share > 0 && !d.guess) throw new GeniusError('retryShare needs guess-and-check problems (difficulty.guess)');
}

function checkSloppy({ share, slipRate }: { share: number; slipRate: number }): void {
  if (!(share >= 0 && share <= 1)) throw new GeniusError(`sloppy.share must be in [0, 1], got ${share}`);
  if (!(slipRate > 0 && slipRate <= 1)) throw new GeniusError(`sloppy.slipRate must be in (0, 1], got ${slipRate}`);
}

/** A sloppy solution with at least one slip (redrawn until it has one; the chain has an addition or subtraction). */
function sloppyAnswer(rng: Rng, d: TaskDifficulty, start: number, links: readonly Link[], slipRate: number): string | undefined {
  if (!links.some((l) => l.op === 'add' || l.op === 'sub')) return undefined;
  const gold = solutionOf(start, links, d.checks, d.guess).answer;
  for (;;) {
    const answer = solutionOf(start, links, d.checks, d.guess, { rate: slipRate, rng }).answer;
    if (answer !== gold) return answer;
  }
}

/** The canonical chain of a generated record, recovered from its solution (for split checks). */
export function canonicalOf(record: Pick<TaskRecord, 'answer'>): string {
  // A guess-and-check solution's chain is its last attempt's (a retry works a wrong guess first).
  const lines = record.answer.split('\n');
  const lastGuess = lines.findLastIndex((l) => l.startsWith(GUESS_MARKER));
  const steps = lines.slice(lastGuess + 1).filter((l) => !l.startsWith(ANSWER_MARKER));
  const parts = steps.map((l) => l.split(' '));
  if (parts.length === 0) throw new GeniusError('solution has no steps');
  return [parts[0]![0], ...parts.map((p) => `${p[1]}${p[2]}`)].join(' ');
}
