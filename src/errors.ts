/** An error whose message names the cause, meant to be shown to a user as one line. */
export class GeniusError extends Error {
  override readonly name = 'GeniusError';
}

/** Normalises anything thrown (native errors arrive as plain Error) into one message line. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
