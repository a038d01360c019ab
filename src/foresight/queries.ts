import { readFileSync } from 'node:fs';
import { GeniusError } from '../errors.js';
import type { Query } from './explore.js';

/** How `readQueries` finds the question and treats malformed lines. */
export interface ReadQueriesOptions {
  /** The question field; default: the first of instruction, query, prompt, question present. */
  field?: string;
  /** Stop at the first malformed line instead of reporting and skipping it. */
  strict?: boolean;
  /** Told about each skipped line. */
  onSkip?: (message: string) => void;
}

const QUESTION_FIELDS = ['instruction', 'query', 'prompt', 'question'];
const ANSWER_FIELDS = ['ground_truth', 'answer', 'response'];

/**
 * Reads unlabeled queries from JSONL (one object per line) or a JSON array. Each query keeps its
 * position in the file (`index`) and its `id` (the record's own id, else the position). A line
 * that is not a JSON object with the question field is reported with its line number and
 * skipped, or stops the read with `strict`.
 */
export function readQueries(path: string, options: ReadQueriesOptions = {}): Query[] {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GeniusError(`cannot read queries file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const items = raw.trimStart().startsWith('[') ? parseArray(path, raw) : parseLines(path, raw, options);
  const queries: Query[] = [];
  for (const { item, where, index } of items) {
    const problem = (msg: string) => {
      if (options.strict) throw new GeniusError(`${where}: ${msg}`);
      options.onSkip?.(`${where}: ${msg}; skipped`);
    };
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problem('not a JSON object');
      continue;
    }
    const record = item as Record<string, unknown>;
    const field = options.field ?? QUESTION_FIELDS.find((f) => typeof record[f] === 'string');
    const question = field ? record[field] : undefined;
    if (typeof question !== 'string' || question.length === 0) {
      problem(options.field ? `no string field '${options.field}'` : `no question field (looked for ${QUESTION_FIELDS.join(', ')})`);
      continue;
    }
    const answerField = ANSWER_FIELDS.find((f) => f in record && f !== field);
    const id = typeof record.id === 'string' || typeof record.id === 'number' ? record.id : index;
    queries.push({ id, index, question, groundTruth: answerField ? record[answerField] : undefined });
  }
  const seen = new Set<string>();
  for (const q of queries) {
    const key = String(q.id);
    if (seen.has(key)) throw new GeniusError(`${path}: duplicate query id ${JSON.stringify(q.id)}`);
    seen.add(key);
  }
  return queries;
}

interface Item {
  item: unknown;
  where: string;
  index: number;
}

function parseArray(path: string, raw: string): Item[] {
  let arr: unknown;
  try {
    arr = JSON.parse(raw);
  } catch (err) {
    throw new GeniusError(`${path}: malformed JSON array (${(err as Error).message})`);
  }
  if (!Array.isArray(arr)) throw new GeniusError(`${path}: expected a JSON array or JSON lines`);
  return arr.map((item, index) => ({ item, where: `${path}[${index}]`, index }));
}

function parseLines(path: string, raw: string, options: ReadQueriesOptions): Item[] {
  const items: Item[] = [];
  const lines = raw.split('\n');
  let index = 0;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `${path}:${n + 1}`;
    try {
      items.push({ item: JSON.parse(line), where, index });
    } catch (err) {
      if (options.strict) throw new GeniusError(`${where}: malformed JSON (${(err as Error).message})`);
      options.onSkip?.(`${where}: malformed JSON (${(err as Error).message}); skipped`);
    }
    index++;
  }
  return items;
}
