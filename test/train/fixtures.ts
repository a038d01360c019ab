import { writeFileSync } from 'node:fs';
import type { NativeLossSpec } from '../../src/engine/native.js';
import type { TrainSequence } from '../../src/train/trainer.js';
import { Rng } from '../../src/foresight/selection.js';

/** Random token sequences inside the vocabulary (ids >= 3 skip the special tokens). */
export function randomSequences(n: number, vocab: number, seed: number, promptLen: [number, number] = [2, 6], respLen: [number, number] = [2, 7]): TrainSequence[] {
  const rng = new Rng(seed);
  const between = ([lo, hi]: [number, number]) => lo + rng.int(hi - lo + 1);
  const tokens = (k: number) => Array.from({ length: k }, () => 3 + rng.int(vocab - 3));
  return Array.from({ length: n }, () => ({ prompt: [1, ...tokens(between(promptLen) - 1)], response: tokens(between(respLen)) }));
}

/** P preference pairs as the trainer takes them: P chosen, then P rejected sequences (shared prompts). */
export function randomPairs(P: number, vocab: number, seed: number): TrainSequence[] {
  const chosen = randomSequences(P, vocab, seed);
  const rejected = randomSequences(P, vocab, seed + 1000).map((s, i) => ({ prompt: chosen[i]!.prompt, response: s.response }));
  return [...chosen, ...rejected];
}

export function lossSpec(type: NativeLossSpec['type'], P: number, extra: Partial<NativeLossSpec> = {}): NativeLossSpec {
  return {
    type,
    beta: type === 'simpo' ? 2 : type === 'ipo' ? 0.5 : 0.1,
    weight: Array.from({ length: P }, (_, i) => [1, 0.35, 0.8, 1][i % 4]!),
    refChosen: Array.from({ length: P }, (_, i) => -20 - 3 * i),
    refRejected: Array.from({ length: P }, (_, i) => -18 - 2 * i),
    scale: type === 'sft' ? 1 / 20 : 1 / P,
    ...extra,
  };
}

const WORDS = ['one', 'two', 'three', 'add', 'the', 'answer', 'is', 'then', 'we', 'get', 'so', 'four', 'five', 'six', 'seven', 'total', 'left', 'more'];

/** A pairs JSONL file in our (the reference's) format with seeded texts and advantages. */
export function pairsFile(path: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  const sentence = (k: number) => Array.from({ length: k }, () => WORDS[rng.int(WORDS.length)]).join(' ');
  const lines = Array.from({ length: n }, () => {
    const aw = rng.next() * 2 - 1;
    const al = rng.next() * 2 - 1;
    return JSON.stringify({
      prompt: `what is ${sentence(3)}?`,
      chosen: [{ role: 'assistant', content: `${sentence(4)}.\n${sentence(3)}.` }],
      rejected: [{ role: 'assistant', content: `${sentence(5)}.\n${sentence(2)}.` }],
      chosen_weights: aw,
      rejected_weights: al,
      chosen_average_weights: (aw + al) / 2,
    });
  });
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
