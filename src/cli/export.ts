import { Command, Option } from '@commander-js/extra-typings';
import { Model } from '../engine/model.js';
import { calibrationWeight, resolveLossConfig } from '../losses/index.js';
import { EXPORT_FORMATS, exportPairs } from '../pairs/export.js';
import { TrainingConfigSchema as T } from '../train/config.js';
import { loadPairs } from '../train/data.js';
import { openReferenceScorer, referenceKey, referenceLogps } from '../train/reference.js';
import { runAction } from './action.js';
import { real, setting } from './options.js';

/** `genius export`: pairs for other trainers (the authors' open-instruct ACO trainer, TRL). */
export function exportCommand() {
  return new Command('export')
    .description("write pairs for the authors' open-instruct ACO trainer or for TRL, with advantages and cached reference log-probs")
    .requiredOption('--pairs <file>', 'pairs JSONL (genius pairs)')
    .requiredOption('--out <file>', 'JSONL to write')
    .addOption(new Option('--format <name>', 'target trainer').choices(EXPORT_FORMATS).makeOptionMandatory())
    .option('--model <path>', 'also export reference log-probs of this model (computed once, cached beside the pairs)')
    .option('--adapter <path>', 'reference = model + this adapter')
    .addOption(setting(T, 'reference', '--reference <spec>'))
    .addOption(setting(T, 'maxSeqLen', '--max-seq-len <n>'))
    .option('--alpha <x>', 'ACO alpha for the calibration-weight column (inf: DPO)', real({ above: 0, infinity: true }), 1)
    .addOption(setting(T, 'calibration', '--calibration <kind>'))
    .action((f, cmd) =>
      runAction(cmd, async () => {
        let reference: ({ chosen: number; rejected: number } | null)[] | undefined;
        let weights: number[] | undefined;
        let tokens: ({ prompt: number[]; chosen: number[]; rejected: number[] } | null)[] | undefined;
        let model: Model | undefined;
        let r: ReturnType<typeof exportPairs>;
        try {
          if (f.model) {
            model = await Model.load(f.model);
            const data = loadPairs(f.pairs, model, { maxSeqLen: f.maxSeqLen, truncation: 'truncate' });
            const key = referenceKey(f.reference, f.model, f.adapter, data.pairs);
            const ref = await referenceLogps(data.pairs, () => openReferenceScorer(f.reference, f.model!, f.adapter, f.maxSeqLen), {
              cache: `${f.pairs.replace(/\.jsonl$/, '')}.ref-${key}.jsonl`,
              key,
            });
            const lines = data.pairs.length + data.dropped;
            reference = Array.from({ length: lines }, () => null);
            tokens = Array.from({ length: lines }, () => null);
            data.pairs.forEach((p, i) => {
              reference![p.index] = { chosen: ref.chosen[i]!, rejected: ref.rejected[i]! };
              tokens![p.index] = { prompt: p.prompt, chosen: p.chosen, rejected: p.rejected };
            });
            const cfg = resolveLossConfig('aco', { alpha: f.alpha, calibration: f.calibration });
            weights = Array.from({ length: lines }, () => 1);
            data.pairs.forEach((p) => (weights![p.index] = calibrationWeight(cfg, p.aChosen, p.aRejected)));
          }
          const m = model;
          r = exportPairs({
            pairs: f.pairs,
            out: f.out,
            format: f.format,
            ...(reference ? { reference } : {}),
            ...(weights ? { weights } : {}),
            ...(tokens && m ? { tokens, detokenize: (ids: readonly number[]) => m.detokenize(ids, { special: true }) } : {}),
          });
        } finally {
          model?.dispose();
        }
        process.stdout.write(`${f.out}: ${r.written} pairs (${r.withReference} with reference log-probs), ${f.format} format\n`);
      }),
    );
}
