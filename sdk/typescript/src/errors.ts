/**
 * Every failure of an SDK call is a {@link HooklineError}:
 * - the API answered an error: `code` and `message` come from its body
 *   `{"error": {"code", "message"}}` and `status` is the HTTP status;
 * - the request never got an answer: `code` is `network_error` (or `timeout`)
 *   and `status` is 0;
 * - the SDK refused the call before sending it (a missing argument):
 *   `code` names the problem and `status` is 0;
 * - the client is not set up (`missing_key`, `key_file_unreadable`,
 *   `invalid_base_url`, `fetch_unavailable`): `status` is 0, and the error
 *   prints as one line (`HooklineError [missing_key]: …`) without a stack
 *   trace, since the fix is in the configuration, not in the code.
 */
export class HooklineError extends Error {
  /** Stable snake_case code, e.g. `product_not_found`, `target_not_allowed`, `network_error`. */
  readonly code: string;
  /** HTTP status of the answer; 0 when there was no answer. */
  readonly status: number;
  // `declare`: set only when there is one, so an error without them does not print
  // `body: undefined, request: undefined`.
  /** The parsed answer body, when there was one. */
  declare readonly body?: unknown;
  /** HTTP method and URL of the failed request, when one was made. */
  declare readonly request?: { method: string; url: string };

  constructor(init: {
    code: string;
    message: string;
    status?: number;
    body?: unknown;
    request?: { method: string; url: string };
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'HooklineError';
    this.code = init.code;
    this.status = init.status ?? 0;
    if (init.body !== undefined) this.body = init.body;
    if (init.request !== undefined) this.request = init.request;
  }

  /** An error of the client's setup: printed as one line, without a stack trace. */
  static setup(init: { code: string; message: string }): HooklineError {
    const err = new HooklineError(init);
    const line = `HooklineError [${init.code}]: ${init.message}`;
    Object.defineProperty(err, 'stack', { value: line, configurable: true, writable: true });
    Object.defineProperty(err, Symbol.for('nodejs.util.inspect.custom'), { value: () => line });
    return err;
  }

  /** True when `err` is a {@link HooklineError} (optionally with the given code). */
  static is(err: unknown, code?: string): err is HooklineError {
    return err instanceof HooklineError && (code === undefined || err.code === code);
  }
}
