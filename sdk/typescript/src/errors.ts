/**
 * Every failure of an SDK call is a {@link HooklineError}:
 * - the API answered an error: `code` and `message` come from its body
 *   `{"error": {"code", "message"}}` and `status` is the HTTP status;
 * - the request never got an answer: `code` is `network_error` (or `timeout`)
 *   and `status` is 0;
 * - the SDK refused the call before sending it (a missing argument):
 *   `code` names the problem and `status` is 0.
 */
export class HooklineError extends Error {
  /** Stable snake_case code, e.g. `product_not_found`, `target_not_allowed`, `network_error`. */
  readonly code: string;
  /** HTTP status of the answer; 0 when there was no answer. */
  readonly status: number;
  /** The parsed answer body, when there was one. */
  readonly body?: unknown;
  /** HTTP method and URL of the failed request, when one was made. */
  readonly request?: { method: string; url: string };

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

  /** True when `err` is a {@link HooklineError} (optionally with the given code). */
  static is(err: unknown, code?: string): err is HooklineError {
    return err instanceof HooklineError && (code === undefined || err.code === code);
  }
}
