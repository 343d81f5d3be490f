import { HooklineError } from './errors.js';
export const SDK_VERSION = '0.1.0';
/** Encodes one path segment (a tag, an id). */
export function seg(value) {
    if (typeof value !== 'string' || value.length === 0) {
        throw new HooklineError({
            code: 'missing_argument',
            message: `expected a non-empty string for a path segment, got ${JSON.stringify(value)}`,
        });
    }
    return encodeURIComponent(value);
}
function queryString(query) {
    if (!query)
        return '';
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null)
            continue;
        params.append(k, v instanceof Date ? v.toISOString() : String(v));
    }
    const s = params.toString();
    return s ? `?${s}` : '';
}
/** The one place HTTP happens: JSON in, JSON out, errors as {@link HooklineError}. */
export class Transport {
    config;
    constructor(config) {
        this.config = config;
    }
    async request(method, path, opts = {}) {
        const url = `${this.config.baseUrl}${path}${queryString(opts.query)}`;
        const headers = {
            accept: 'application/json',
            'user-agent': `hookline-sdk-typescript/${SDK_VERSION}`,
            ...this.config.headers,
        };
        if (opts.auth !== false) {
            headers['authorization'] = `Bearer ${await this.config.accessKey()}`;
        }
        let body;
        if (opts.body !== undefined) {
            headers['content-type'] = 'application/json';
            body = JSON.stringify(opts.body);
        }
        const signals = [];
        if (opts.signal)
            signals.push(opts.signal);
        if (this.config.timeoutMs !== undefined)
            signals.push(AbortSignal.timeout(this.config.timeoutMs));
        const signal = combine(signals);
        const request = { method, url };
        let res;
        try {
            res = await this.config.fetch(url, { method, headers, body, signal });
        }
        catch (cause) {
            const name = cause?.name;
            if (name === 'TimeoutError') {
                throw new HooklineError({
                    code: 'timeout',
                    message: `${method} ${url} got no answer within ${this.config.timeoutMs} ms`,
                    request,
                    cause,
                });
            }
            if (name === 'AbortError') {
                throw new HooklineError({ code: 'aborted', message: `${method} ${url} was aborted`, request, cause });
            }
            const detail = describe(cause);
            throw new HooklineError({
                code: 'network_error',
                message: `could not reach Hookline at ${this.config.baseUrl} (${method} ${path}): ${detail}`,
                request,
                cause,
            });
        }
        let text;
        try {
            text = await res.text();
        }
        catch (cause) {
            throw new HooklineError({
                code: 'network_error',
                message: `the answer to ${method} ${path} was cut off: ${describe(cause)}`,
                status: res.status,
                request,
                cause,
            });
        }
        let parsed = undefined;
        let parseFailed = false;
        if (text.length > 0) {
            try {
                parsed = JSON.parse(text);
            }
            catch {
                parseFailed = true;
            }
        }
        if (!res.ok) {
            const err = parsed?.error;
            if (err && typeof err.code === 'string') {
                throw new HooklineError({
                    code: err.code,
                    message: typeof err.message === 'string' ? err.message : `${method} ${path} failed with ${res.status}`,
                    status: res.status,
                    body: parsed,
                    request,
                });
            }
            const excerpt = text.length > 300 ? `${text.slice(0, 300)}…` : text;
            throw new HooklineError({
                code: 'http_error',
                message: `${method} ${path} answered ${res.status} ${res.statusText}${excerpt ? `: ${excerpt}` : ''}`,
                status: res.status,
                body: parseFailed ? text : parsed,
                request,
            });
        }
        if (parseFailed) {
            throw new HooklineError({
                code: 'invalid_response',
                message: `${method} ${path} answered ${res.status} with a body that is not JSON`,
                status: res.status,
                body: text,
                request,
            });
        }
        return parsed;
    }
}
function combine(signals) {
    if (signals.length <= 1)
        return signals[0];
    const anyFn = AbortSignal.any;
    if (anyFn)
        return anyFn(signals);
    // Node < 20.3 has no AbortSignal.any.
    const ctrl = new AbortController();
    for (const s of signals) {
        if (s.aborted) {
            ctrl.abort(s.reason);
            break;
        }
        s.addEventListener('abort', () => ctrl.abort(s.reason), { once: true });
    }
    return ctrl.signal;
}
function describe(cause) {
    if (cause instanceof Error) {
        const inner = cause.cause;
        const innerMsg = inner instanceof Error ? inner.message : inner && typeof inner === 'object' && 'code' in inner ? String(inner.code) : '';
        return innerMsg && innerMsg !== cause.message ? `${cause.message} (${innerMsg})` : cause.message;
    }
    return String(cause);
}
//# sourceMappingURL=http.js.map