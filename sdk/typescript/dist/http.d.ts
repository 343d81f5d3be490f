export type QueryValue = string | number | boolean | Date | null | undefined;
export interface RequestOptions {
    query?: Record<string, QueryValue> | object;
    body?: unknown;
    /** Send the management key (default true). */
    auth?: boolean;
    signal?: AbortSignal;
}
export interface TransportConfig {
    baseUrl: string;
    /** The management key, found on first use (see `HooklineOptions.accessKey`). */
    accessKey: () => Promise<string>;
    timeoutMs: number | undefined;
    headers: Record<string, string>;
    fetch: typeof globalThis.fetch;
}
export declare const SDK_VERSION = "0.1.0";
/** Encodes one path segment (a tag, an id). */
export declare function seg(value: string): string;
/** The one place HTTP happens: JSON in, JSON out, errors as {@link HooklineError}. */
export declare class Transport {
    readonly config: TransportConfig;
    constructor(config: TransportConfig);
    request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
}
//# sourceMappingURL=http.d.ts.map