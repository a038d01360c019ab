import { Command } from '@commander-js/extra-typings';
import { PairsConfigSchema as P } from '../pairs/config.js';
import { runPairs } from '../pairs/run.js';
import { runAction, say } from './action.js';
import { positive, seed, setting, settingSwitch } from './options.js';

/** `genius pairs`: preference pairs from an exploration file. */
export function pairsCommand() {
  return new Command('pairs')
    .description('preference pairs (reference JSONL format) from an exploration file')
    .requiredOption('--in <file>', 'exploration JSONL (genius sample or the reference code)')
    .requiredOption('--out <file>', 'pairs JSONL')
    .addOption(setting(P, 'rejected', '--rejected <mode>'))
    .option('--tau <x>', "selection temperature (default: the exploration's, else 0.1)", positive)
    .addOption(setting(P, 'maxChars', '--max-chars <n>'))
    .addOption(settingSwitch(P, 'keepIdentical', '--keep-identical'))
    .option('--seed <n>', 'seed', seed, 0)
    .option('--strict', 'stop at the first malformed record')
    .action((o, cmd) =>
      runAction(cmd, () => {
        const r = runPairs({ ...o, keepIdentical: o.keepIdentical ?? false, log: say });
        const dropped = o.keepIdentical ? '' : `, ${r.identical} steps dropped because chosen == rejected (--keep-identical keeps them)`;
        say(`pairs: ${r.pairs} pairs from ${r.queries} queries written to ${o.out}${dropped}`);
      }),
    );
}
