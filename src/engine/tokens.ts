import { GeniusError } from '../errors.js';

/**
 * Token ids as the native side takes them. Int32Array.from would turn 1.5 into token 1 and NaN
 * into token 0 without a word: every id must be an integer (the vocabulary range is checked natively).
 */
export function tokenIds(tokens: readonly number[], what = 'tokens'): Int32Array {
  if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens))
    throw new GeniusError(`${what} must be an array of token ids`, { code: 'INVALID_ARGUMENT' });
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < -0x80000000 || t > 0x7fffffff)
      throw new GeniusError(`${what}[${i}] must be an integer token id, got ${t}`, { code: 'INVALID_ARGUMENT' });
  }
  return Int32Array.from(tokens);
}
