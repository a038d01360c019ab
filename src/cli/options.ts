import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ZodArray, ZodDefault, ZodEnum, ZodNumber, ZodOptional, type z } from 'zod';
import type { ForesightConfig } from '../foresight/config.js';
import { fieldDoc } from '../schema.js';

// The one set of CLI value parsers. Each throws InvalidArgumentError, which commander reports as
// "option '--flag <x>' argument 'v' is invalid. <reason>": the flag is always named.

/** Upper bounds where a larger value cannot be meaningful on any machine (and would overflow or exhaust memory). */
export const LIMITS = {
  /** CPU threads. */
  threads: 1024,
  /** Live sequences of one context (the engine's slot limit). */
  sequences: 256,
  /** Tokens of one request, KV cells of one sequence. */
  tokens: 1 << 20,
  /** Queries or questions in flight. */
  concurrency: 4096,
  /** Foresight steps, epochs, samples and other counts of whole passes. */
  passes: 100_000,
} as const;

/** A base-10 number; `inf`/`Infinity` only where `allowInfinity`. Rejects '', hex and junk. */
function toNumber(value: string, allowInfinity = false): number {
  const s = value.trim();
  if (allowInfinity && /^\+?(inf|infinity)$/i.test(s)) return Infinity;
  const n = s === '' || /^[+-]?0[xob]/i.test(s) ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(allowInfinity ? 'must be a number or inf' : 'must be a finite number');
  return n;
}

/** An integer in [min, max]. */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = /^\s*[+-]?\d+(e\+?\d+)?\s*$/i.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer');
    if (n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer in [${min}, ${max}]`,
      );
    return n;
  };
}

/** Bounds of a real-valued option; `above` is an exclusive lower bound. */
export interface RealBounds {
  min?: number;
  above?: number;
  max?: number;
  /** Accept `inf` (e.g. ACO's alpha, where infinity means plain DPO). */
  infinity?: boolean;
}

/** A real number within `bounds`. */
export function real(bounds: RealBounds = {}): (value: string) => number {
  const { min, above, max, infinity = false } = bounds;
  const want = [min !== undefined ? `>= ${min}` : '', above !== undefined ? `> ${above}` : '', max !== undefined ? `<= ${max}` : '']
    .filter(Boolean)
    .join(' and ');
  return (value) => {
    const n = toNumber(value, infinity);
    if ((min !== undefined && n < min) || (above !== undefined && !(n > above)) || (max !== undefined && n > max))
      throw new InvalidArgumentError(`must be a number ${want}`);
    return n;
  };
}

/** Any finite number. */
export const finite = real();
/** A finite number >= 0 (temperatures, weight decay, norms). */
export const nonNegative = real({ min: 0 });
/** A finite number > 0. */
export const positive = real({ above: 0 });
/** A number in [0, 1]. */
export const probability = real({ min: 0, max: 1 });

/** CPU threads: 0 (all cores) up to LIMITS.threads. */
export const threads = integer(0, LIMITS.threads);
/** A count of tokens or KV cells, >= 1. */
export const tokens = integer(1, LIMITS.tokens);
/** A seed: any integer that survives a round trip through a double. */
export const seed = integer(Number.MIN_SAFE_INTEGER);

/** Collects a repeatable option's values. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** "2-6" or "3" as an inclusive range of non-negative integers. */
export function range(value: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be N or MIN-MAX');
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo) throw new InvalidArgumentError(`${hi} is below ${lo}`);
  return [lo, hi];
}

/** A comma-separated list (empty items dropped). */
export function list(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('must be a comma-separated list');
  return items;
}

/**
 * A flag for one field of a settings schema: its help text, default and bounds come from the
 * schema (the one source of all three). Numbers, strings and comma-separated lists are checked
 * by the field itself, enums become choices; `parse` replaces that where a flag reads otherwise.
 */
export function setting<S extends z.ZodRawShape, K extends keyof S & string, const U extends string>(
  schema: z.ZodObject<S>,
  key: K,
  flags: U,
  parse?: (value: string) => NonNullable<z.output<S[K]>>,
): Option<U, undefined, z.output<S[K]>, NonNullable<z.output<S[K]>>, false, undefined> {
  const doc = fieldDoc(schema, key);
  const field = baseField(schema.shape[key] as unknown as z.ZodType);
  const option = new Option(flags, doc.description);
  if (doc.default !== undefined)
    option.default(doc.default, Array.isArray(doc.default) ? doc.default.join(',') : JSON.stringify(doc.default));
  if (parse) option.argParser(parse);
  else if (field instanceof ZodEnum) option.choices(field.options.map(String));
  else {
    option.argParser((value: string) => {
      const raw = field instanceof ZodNumber ? toNumber(value) : field instanceof ZodArray ? list(value) : value;
      const r = field.safeParse(raw);
      if (!r.success) throw new InvalidArgumentError(r.error.issues.map((i) => i.message).join('; '));
      return r.data;
    });
  }
  return option as unknown as Option<U, undefined, z.output<S[K]>, NonNullable<z.output<S[K]>>, false, undefined>;
}

function baseField(field: z.ZodType): z.ZodType {
  return field instanceof ZodDefault || field instanceof ZodOptional ? baseField(field.unwrap() as z.ZodType) : field;
}

/** A boolean schema field as a switch (`--light`; `--no-chat` for a field that defaults to true), with the schema's default. */
export function settingSwitch<S extends z.ZodRawShape, K extends keyof S & string, const U extends string>(
  schema: z.ZodObject<S>,
  key: K,
  flags: U,
  description?: string,
): Option<U> {
  const doc = fieldDoc(schema, key);
  const option = new Option(flags, description ?? doc.description);
  if (typeof doc.default === 'boolean' && !flags.startsWith('--no-')) option.default(doc.default);
  return option;
}

/** `--chat-template NAME|FILE`: a file's text where the value names a file, else the value itself (a llama.cpp built-in name such as chatml or llama3, or template text). */
export function chatTemplate(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must be a template name or file');
  if (existsSync(value) && statSync(value).isFile()) {
    const text = readFileSync(value, 'utf8');
    if (text.trim() === '') throw new InvalidArgumentError(`${value} is empty`);
    return text;
  }
  return value;
}

/** The sampling flags `genius sample` and `genius probe` share, parsed. */
export type SamplingFlags = Partial<
  Pick<
    ForesightConfig,
    | 'beams'
    | 'rollouts'
    | 'steps'
    | 'tau'
    | 'stepTemperature'
    | 'foresightTemperature'
    | 'maxStepTokens'
    | 'maxRolloutTokens'
    | 'scoreSpan'
    | 'strategy'
  >
>;

/**
 * Those flags as foresight settings: only the ones set, so that a layer below (the built-in
 * model's settings) or the schema's defaults apply to the rest.
 */
export function samplingSettings(o: SamplingFlags): SamplingFlags {
  const flags: SamplingFlags = {
    beams: o.beams,
    rollouts: o.rollouts,
    steps: o.steps,
    tau: o.tau,
    stepTemperature: o.stepTemperature,
    foresightTemperature: o.foresightTemperature,
    maxStepTokens: o.maxStepTokens,
    maxRolloutTokens: o.maxRolloutTokens,
    scoreSpan: o.scoreSpan,
    strategy: o.strategy,
  };
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as SamplingFlags;
}
