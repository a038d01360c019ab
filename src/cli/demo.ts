import { Command } from '@commander-js/extra-typings';
import { parseLoopConfig } from '../loop/config.js';
import { runLoop } from '../loop/run.js';
import { runAction } from './action.js';
import { integer, LIMITS } from './options.js';
import { loopEvents, printLoopSummary } from './progress.js';

/**
 * `genius demo`, the main job: `genius run` on the built-in model with the built-in unlabeled
 * queries and labeled eval set, every setting at its default (two rounds of foresight sampling +
 * ACO on a LoRA adapter). Prints accuracy before and after each round and where the report is.
 */
export function demoCommand() {
  return new Command('demo')
    .description('the main job: genius run on the built-in model, queries and eval set (resumes if interrupted)')
    .option('--dir <path>', 'run directory', 'runs/demo')
    .option('--rounds <n>', "self-training rounds (default: the loop config's)", integer(1, LIMITS.passes))
    .action((o, cmd) =>
      runAction(cmd, async () => {
        const config = parseLoopConfig({ out: o.dir, ...(o.rounds ? { rounds: o.rounds } : {}) });
        const { events, done } = loopEvents();
        const summary = await runLoop(config, events);
        done();
        printLoopSummary(summary);
      }),
    );
}
