import test from 'ava';
import { calibrationWeight, pairLoss, resolveLossConfig } from '../../src/losses/index.js';

test('paper calibration: w = 1 in the normal region, exp(-(Al-Aw)/alpha) < 1 where the rejected step had the higher advantage', (t) => {
  const aco = resolveLossConfig('aco');
  t.is(calibrationWeight(aco, 0.5, 0.2), 1);
  t.is(calibrationWeight(aco, 0.5, 0.5), 1);
  t.true(Math.abs(calibrationWeight(aco, 0.2, 0.7) - Math.exp(-0.5)) < 1e-15);
  t.true(Math.abs(calibrationWeight(resolveLossConfig('aco', { alpha: 2 }), 0.2, 0.7) - Math.exp(-0.25)) < 1e-15);
});

test("reference calibration (the released code's torch.max) differs exactly where it should", (t) => {
  const paper = resolveLossConfig('aco');
  const ref = resolveLossConfig('aco', { calibration: 'reference' });
  // Normal region: paper 1, reference exp(+(Aw-Al)/alpha) > 1.
  t.is(calibrationWeight(paper, 0.9, 0.1), 1);
  t.true(Math.abs(calibrationWeight(ref, 0.9, 0.1) - Math.exp(0.8)) < 1e-12);
  // Calibration region: paper < 1, reference 1.
  t.true(calibrationWeight(paper, 0.1, 0.9) < 1);
  t.is(calibrationWeight(ref, 0.1, 0.9), 1);
  // Equal advantages: both 1.
  t.is(calibrationWeight(paper, 0.3, 0.3), 1);
  t.is(calibrationWeight(ref, 0.3, 0.3), 1);
});

test('ACO equals DPO as alpha goes to infinity', (t) => {
  const p = { chosen: -12, rejected: -15, refChosen: -13, refRejected: -14 };
  const dpo = pairLoss(resolveLossConfig('dpo'), p);
  for (const [aw, al] of [
    [0.1, 0.9],
    [0.9, 0.1],
    [-2, 3],
  ] as const) {
    const aco = resolveLossConfig('aco', { alpha: 1e12 });
    const w = calibrationWeight(aco, aw, al);
    t.true(Math.abs(w - 1) < 1e-9);
    t.true(Math.abs(pairLoss(aco, p, w) - dpo) < 1e-12);
    t.is(calibrationWeight(resolveLossConfig('aco', { alpha: Infinity }), aw, al), 1);
  }
});

test('the loss formulas: DPO -log sigmoid, IPO square, SimPO margin, ROPO mix', (t) => {
  const p = { chosen: -10, rejected: -12, refChosen: -11, refRejected: -11 };
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  t.true(Math.abs(pairLoss(resolveLossConfig('dpo'), p) + Math.log(sig(0.1 * 2))) < 1e-12);
  t.true(Math.abs(pairLoss(resolveLossConfig('aco'), p, 0.5) + Math.log(sig(0.1 * (1 - 0.5 * -1)))) < 1e-12);
  t.true(Math.abs(pairLoss(resolveLossConfig('ipo'), p) - (2 - 1) ** 2) < 1e-12);
  t.true(Math.abs(pairLoss(resolveLossConfig('simpo'), { ...p, refChosen: 0, refRejected: 0 }) + Math.log(sig(2 * 2 - 1))) < 1e-12);
  t.true(Math.abs(pairLoss(resolveLossConfig('ropo'), p) - (0.2 * sig(-0.2) - 0.1 * Math.log(sig(0.2)))) < 1e-12);
});

test('bad loss settings are named', (t) => {
  t.throws(() => resolveLossConfig('kto'), { message: /unknown loss 'kto'/ });
  t.throws(() => resolveLossConfig('aco', { beta: 0 }), { message: /beta must be a positive/ });
  t.throws(() => resolveLossConfig('aco', { calibration: 'both' as never }), { message: /calibration must be/ });
});
