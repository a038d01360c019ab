import { writeReport } from '../report/index.js';

/** `genius report`: (re)writes a run directory's HTML report. */
export function runReportCommand(o: { run: string; out?: string; queries: number; tau?: number }): void {
  const path = writeReport(o.run, { out: o.out, queries: o.queries, tau: o.tau });
  process.stdout.write(`${path}\n`);
}
