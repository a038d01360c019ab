import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { messageOf } from '../errors.js';

/**
 * Runs a CLI action with the project's error contract: any failure prints one line naming the
 * cause on stderr (the stack only with the global --verbose) and sets a non-zero exit code.
 */
export async function runAction(cmd: CommandUnknownOpts, action: () => Promise<void> | void): Promise<void> {
  try {
    await action();
  } catch (err) {
    process.stderr.write(`genius: ${messageOf(err)}\n`);
    if (cmd.optsWithGlobals().verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}

/** Prints one line on stderr (progress and summaries; stdout is for results). */
export const say = (s: string): void => {
  process.stderr.write(`${s}\n`);
};
