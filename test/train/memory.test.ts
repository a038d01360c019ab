import test from 'ava';
import { makeTemp } from '../helpers.js';
import { Trainer } from '../../src/train/trainer.js';
import { lossSpec, QUANT_SHAPE, randomPairs } from './fixtures.js';

// `measure` (graph allocation only, how bench:train sizes an 8B model on a small machine) must
// report what a computed step of the same micro-batch holds.
for (const dtype of ['f32', 'q8_0'] as const) {
  test(`measure() reports the memory of a computed step (${dtype})`, async (t) => {
    const model = await makeTemp({
      shape: QUANT_SHAPE,
      dtype,
      seed: 1,
    });
    const P = 2;
    const measured = await Trainer.create({ model, lora: { rank: 4 }, threads: 2 });
    const computed = await Trainer.create({ model, lora: { rank: 4 }, threads: 2 });
    try {
      const pairs = randomPairs(P, measured.info.nVocab, 4);
      const bytes = await measured.measure(pairs, lossSpec('aco', P));
      await computed.accumulate(pairs, lossSpec('aco', P));
      t.is(bytes, measured.info.memoryBytes);
      t.is(bytes, computed.info.memoryBytes);
      t.true(measured.info.peakGraphBytes > 0);
    } finally {
      measured.dispose();
      computed.dispose();
    }
  });
}
