import { Command } from '@commander-js/extra-typings';
import { writeReport } from '../report/index.js';
import { runAction } from './action.js';
import { integer, positive } from './options.js';

/** `genius report`: (re)writes a run directory's HTML report. */
export function reportCommand() {
  return new Command('report')
    .description("write a run directory's self-contained HTML report (training curves, eval per round, foresight trees)")
    .requiredOption('--run <dir>', 'run directory (metrics.jsonl, rounds.jsonl, round-<r>/exploration.jsonl, round-<r>/pairs.jsonl)')
    .option('--out <file>', 'HTML path (default: <run>/report.html)')
    .option('--queries <n>', 'queries shown in the foresight-tree view', integer(0, 1000), 3)
    .option('--tau <x>', 'selection temperature for F in the tree view', positive)
    .action((o, cmd) =>
      runAction(cmd, () => {
        process.stdout.write(`${writeReport(o.run, { out: o.out, queries: o.queries, tau: o.tau })}\n`);
      }),
    );
}
