import type { NativeVocabSpec } from '../engine/native.js';

/** SentencePiece token types as GGUF stores them. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

const SPACE = '\u2581'; // SentencePiece's visible space

// Words the built-in reasoning task and common prompts use. Each becomes a token with and
// without a leading space, so a small model sees short sequences.
const WORDS = `the a an and or of to in on at for with by from is are was were be has have had
it its this that these those there then so if not no yes all each every per more less than
how many much what which who when where why step steps first second third next finally total
answer reasoning final result number numbers sum difference product quotient plus minus times
divided add added subtract subtracted multiply multiplied divide left remain remaining gives
get gets got buys buy bought sells sell sold fewer twice half double triple does do did he she
they his her their apples oranges books coins marbles cookies pencils cards stickers boxes bags
friends students Tom Ann Sam Mia Leo Zoe Ben Eva The A If So Then Step Answer Question user
assistant system`
  .split(/\s+/)
  .filter((w, i, all) => w.length > 1 && all.indexOf(w) === i);

/**
 * A small SentencePiece-style vocabulary that llama.cpp's SPM tokenizer loads: control tokens
 * (`<unk>`, `<s>`, `</s>`, ChatML's `<|im_start|>`/`<|im_end|>`), 256 byte-fallback tokens (any
 * text tokenizes), printable ASCII characters with and without a leading space, and whole words.
 * SPM only merges two adjacent pieces into a piece that exists, so every prefix of a word is a
 * token too, scored by length so that the longest piece wins. No space prefix is added, so
 * chat-formatted text round-trips exactly. The chat template is ChatML.
 */
export function builtinVocab(): NativeVocabSpec {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  const add = (text: string, type: number, score: number) => {
    if (seen.has(text)) return;
    seen.add(text);
    tokens.push(text);
    types.push(type);
    scores.push(score);
  };
  add('<unk>', UNKNOWN, 0);
  add('<s>', CONTROL, 0);
  add('</s>', CONTROL, 0);
  add('<|im_start|>', CONTROL, 0);
  add('<|im_end|>', CONTROL, 0);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, BYTE, 0);
  add(SPACE, NORMAL, 0);
  for (let c = 0x21; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    add(ch, NORMAL, 0);
    add(SPACE + ch, NORMAL, 0);
  }
  for (const word of WORDS) {
    for (const form of [word, SPACE + word]) {
      for (let n = 2; n <= form.length; n++) add(form.slice(0, n), NORMAL, n);
    }
  }
  return {
    model: 'llama',
    tokens,
    scores,
    types,
    unk: 0,
    bos: 1,
    eos: 2,
    addBos: true,
    addEos: false,
    addSpacePrefix: false,
    chatTemplate: 'chatml',
  };
}
