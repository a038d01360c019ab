// Final-answer extraction: the forms reasoning models (and GSM8K's references) mark answers with.

/** Which marker an answer was found by. */
export type AnswerMarker = 'boxed' | 'answer-is' | 'gsm8k' | 'last-number';

/** An answer found in a response. */
export interface ExtractedAnswer {
  /** Normalised: a number as `String(Number(x))` ("1,000.50" -> "1000.5"), else trimmed text. */
  value: string;
  /** The text the marker enclosed or was followed by. */
  raw: string;
  marker: AnswerMarker;
  /** Where the match starts in the response. */
  index: number;
}

// A number as people write it: optional sign and dollar, thousands commas, decimals, a/b.
const NUMBER = String.raw`[-\u2212]?\$?\s?[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?:\.\d+)?)?`;
const ANSWER_IS = new RegExp(String.raw`(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*\**\s*(${NUMBER})`, 'gi');
const GSM8K = new RegExp(String.raw`####\s*(${NUMBER})`, 'g');
const BOXED_TAG = /<boxed>([\s\S]*?)<\/boxed>/g;
const ANY_NUMBER = new RegExp(String.raw`(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?`, 'g');

/** The contents of every `\boxed{...}` (braces balanced) with its position. */
function boxedContents(text: string): { raw: string; index: number }[] {
  const out: { raw: string; index: number }[] = [];
  const open = '\\boxed{';
  for (let at = text.indexOf(open); at >= 0; at = text.indexOf(open, at + 1)) {
    let depth = 1;
    let i = at + open.length;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}') depth--;
    }
    if (depth === 0) out.push({ raw: text.slice(at + open.length, i - 1), index: at });
  }
  return out;
}

/**
 * Normalises an answer so equal values compare equal: LaTeX wrappers (`\text{}`, `\frac{a}{b}`,
 * `$`), thousands commas, a trailing period and unicode minus go; a plain number or fraction
 * becomes `String(Number(x))`; anything else is returned trimmed, lowercased, spaces collapsed.
 */
export function normalizeAnswer(raw: string): string {
  let s = raw
    .trim()
    .replace(/\\(?:text|mathrm|textbf)\{([^{}]*)\}/g, '$1')
    .replace(/\\d?frac\{([^{}]*)\}\{([^{}]*)\}/g, '$1/$2')
    .replace(/\\[!,;]|\\left|\\right/g, '')
    .replace(/\\?\$|\u2212/g, (c) => (c === '\u2212' ? '-' : ''))
    .replace(/(\d),(?=\d{3}(?:\D|$))/g, '$1')
    .replace(/\.$/, '')
    .trim();
  const fraction = /^(-?\d+(?:\.\d+)?)\s*\/\s*(-?\d+(?:\.\d+)?)$/.exec(s);
  if (fraction) {
    const v = Number(fraction[1]) / Number(fraction[2]);
    if (Number.isFinite(v)) return String(v);
  }
  s = s.replace(/^(-)\s+/, '$1');
  if (/^-?\d+(?:\.\d+)?$/.test(s) || /^-?\.\d+$/.test(s)) return String(Number(s) + 0);
  return s.toLowerCase().replace(/\s+/g, ' ');
}

/**
 * The final answer of a response: every `\boxed{..}` (or `<boxed>..</boxed>`), "the answer is X"
 * and GSM8K's "#### X" is a candidate, and the last one in the text wins (a response that revises
 * itself ends with its final word). Null when none is present, unless `lastNumber` is set:
 * then the last number in the text (lm-eval's "flexible extract" for GSM8K). Cost: linear.
 */
export function extractAnswer(text: string, options: { lastNumber?: boolean } = {}): ExtractedAnswer | null {
  const found: ExtractedAnswer[] = [];
  const add = (raw: string, index: number, marker: AnswerMarker) => {
    const value = normalizeAnswer(raw);
    if (value !== '') found.push({ value, raw, marker, index });
  };
  for (const b of boxedContents(text)) add(b.raw, b.index, 'boxed');
  for (const m of text.matchAll(BOXED_TAG)) add(m[1]!, m.index!, 'boxed');
  for (const m of text.matchAll(ANSWER_IS)) add(m[1]!, m.index!, 'answer-is');
  for (const m of text.matchAll(GSM8K)) add(m[1]!, m.index!, 'gsm8k');
  if (found.length === 0 && options.lastNumber) {
    const last = [...text.matchAll(ANY_NUMBER)].at(-1);
    if (last) add(last[0], last.index!, 'last-number');
  }
  if (found.length === 0) return null;
  return found.reduce((last, a) => (a.index >= last.index ? a : last));
}

/** Whether two normalised answers agree: numerically (relative 1e-6) when both are numbers. */
export function answersMatch(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  const x = Number(a);
  const y = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && Number.isFinite(x) && Number.isFinite(y))
    return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y));
  return a === b;
}

/**
 * The gold answer of a task record's answer field: a number as is; a marked solution (GSM8K's
 * "#### N", the built-in task's, a boxed one) by its final answer; else the text itself.
 */
export function goldAnswer(answer: unknown): string | null {
  if (typeof answer === 'number' && Number.isFinite(answer)) return String(answer);
  if (typeof answer !== 'string' || answer.trim() === '') return null;
  return extractAnswer(answer)?.value ?? normalizeAnswer(answer);
}
