/**
 * Machine-readable causes, carried as `code` by every GeniusError (and by the native addon's
 * rejections, which the engine wrapper re-throws as GeniusError with the same code).
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT' // a value out of its range or of the wrong type
  | 'WRONG_TYPE' // a native object of another class (an Adapter where a Model is expected)
  | 'DISPOSED' // the model, context, adapter or trainer is disposed
  | 'BAD_MODEL' // a model file that cannot be loaded
  | 'BAD_ADAPTER' // an adapter file that cannot be loaded or attached
  | 'KV_FULL' // no KV cells free for the request
  | 'NO_SLOT' // no free sequence slot
  | 'CONTEXT_FULL' // a request longer than one sequence can hold
  | 'BUSY' // a second request on one sequence
  | 'UNKNOWN_SEQUENCE' // a released or never created sequence
  | 'ABORTED' // cancelled (AbortSignal, release, shutdown)
  | 'NOT_FINITE' // NaN/Inf logits, loss or weights
  | 'OUT_OF_MEMORY' // an allocation that cannot succeed (e.g. a KV cache larger than memory)
  | 'LOCKED' // an output another live process is writing
  | 'NOT_OURS' // an existing file genius did not write: never appended to, truncated or replaced
  | 'IO' // a read or write that failed (full disk, permissions)
  | 'NATIVE_ERROR' // anything else llama.cpp/ggml reported
  | 'GENIUS_ERROR'; // not classified

const CODES = new Set<string>([
  'INVALID_ARGUMENT',
  'WRONG_TYPE',
  'DISPOSED',
  'BAD_MODEL',
  'BAD_ADAPTER',
  'KV_FULL',
  'NO_SLOT',
  'CONTEXT_FULL',
  'BUSY',
  'UNKNOWN_SEQUENCE',
  'ABORTED',
  'NOT_FINITE',
  'OUT_OF_MEMORY',
  'LOCKED',
  'NOT_OURS',
  'IO',
  'NATIVE_ERROR',
  'GENIUS_ERROR',
]);

/** The code an error carries (its own, else its cause's), or undefined. */
export function codeOf(err: unknown): ErrorCode | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) return code as ErrorCode;
  }
  return undefined;
}

/** An error whose message names the cause, meant to be shown to a user as one line. */
export class GeniusError extends Error {
  override readonly name = 'GeniusError';
  /** Why, for programs: the explicit code, else the cause's (a native rejection's), else GENIUS_ERROR. */
  readonly code: ErrorCode;
  constructor(message?: string, options?: ErrorOptions & { code?: ErrorCode }) {
    super(message, options);
    this.code = options?.code ?? codeOf(options?.cause) ?? 'GENIUS_ERROR';
  }
}

/** Normalises anything thrown (native errors arrive as plain Error) into one message line. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}

/** A request cancelled through its AbortSignal (or by releasing its sequence). */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORTED';
  constructor(message = 'aborted', options?: ErrorOptions) {
    super(message, options);
  }
}
