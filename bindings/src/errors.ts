import { Codes, codeName, retryable, terminal } from './codes.js';

/**
 * ParleyError is how every failure of the SDK is reported: its `code` is one
 * of {@link Codes} (the same numbers as Go's `proto.Code`), or a code from a
 * newer relay.
 */
export class ParleyError extends Error {
  /** The numeric code; see {@link Codes}. */
  readonly code: number;

  constructor(code: number, message?: string, options?: { cause?: unknown }) {
    super(format(code, message), options);
    this.name = 'ParleyError';
    this.code = code;
  }

  /** Whether the same operation may succeed if tried again (`proto.Code.Retryable`). */
  get retryable(): boolean {
    return retryable(this.code);
  }

  /** Whether this is a terminal close: the client does not reconnect by itself (`proto.Code.Terminal`). */
  get terminal(): boolean {
    return terminal(this.code);
  }
}

function format(code: number, message?: string): string {
  const head = `parley: ${code} ${codeName(code)}`;
  if (!message) return head;
  // Go's proto.Error strings already carry the head; do not repeat it.
  return message.startsWith(`parley: ${code}`) ? message : `${head}: ${message}`;
}

/**
 * toParleyError turns whatever a wasm call threw or rejected with into a
 * ParleyError: a WasmError `{code, message}` keeps its code; anything else
 * (a JS exception on the way) is a 4905, as a Go panic is.
 * @internal
 */
export function toParleyError(e: unknown): ParleyError {
  if (e instanceof ParleyError) return e;
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    const { code, message } = e as { code: number; message?: unknown };
    return new ParleyError(code, typeof message === 'string' ? message : undefined);
  }
  return new ParleyError(Codes.Panic, e instanceof Error ? e.message : String(e), { cause: e });
}

/** invalid returns a 4903 (InvalidArgument) error. @internal */
export function invalid(message: string): ParleyError {
  return new ParleyError(Codes.InvalidArgument, message);
}
