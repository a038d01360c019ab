import { parseLoopConfig } from '../loop/config.js';
import { runLoop } from '../loop/run.js';
import { loopEvents, printLoopSummary } from './loop.js';

/**
 * The main job: `genius run` on the built-in model with the built-in unlabeled queries and labeled
 * eval set, every setting at its default (two rounds of foresight sampling + ACO on a LoRA
 * adapter). Prints accuracy before and after each round and where the report is.
 */
export async function runDemo(dir: string, rounds?: number): Promise<void> {
  const config = parseLoopConfig({ out: dir, ...(rounds ? { rounds } : {}) });
  const { events, done } = loopEvents();
  const summary = await runLoop(config, events);
  done();
  printLoopSummary(summary);
}
