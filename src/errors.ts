/** An error whose message names the cause, meant to be shown to a user as one line. */
export class GeniusError extends Error {
  override readonly name = 'GeniusError';
}

/** Normalises anything thrown (native errors arrive as plain Error) into one message line. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}

/** A request cancelled through its AbortSignal (or by releasing its sequence). */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message = 'aborted', options?: ErrorOptions) {
    super(message, options);
  }
}
