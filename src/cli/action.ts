import { messageOf } from '../errors.js';

/**
 * Runs a CLI action with the project's error contract: any failure prints one line naming the
 * cause on stderr (the stack only with --verbose) and sets a non-zero exit code.
 */
export async function runAction(verbose: boolean, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    process.stderr.write(`genius: ${messageOf(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}
