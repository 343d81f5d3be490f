/**
 * Wire types of the Hookline management API. Field names are snake_case,
 * exactly as on the wire (they mirror the Rust types in
 * `crates/hookline/src/api/*.rs`). Times are RFC 3339 strings.
 */
/** HTTP methods a receiver (or a provider's registration API) can be called with. */
export declare enum HttpMethods {
    GET = "GET",
    POST = "POST",
    PUT = "PUT",
    PATCH = "PATCH",
    DELETE = "DELETE"
}
/** An {@link HttpMethods} member or its string value (`"POST"`). */
export type HttpMethod = HttpMethods | `${HttpMethods}`;
/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | {
    [key: string]: JsonValue;
};
/** A JSON object. */
export type JsonObject = {
    [key: string]: JsonValue;
};
/** Values of `headers`, `query` and `params` maps; numbers and booleans are sent as strings by the server. */
export type AuthValue = string | number | boolean;
/**
 * Receiver (or provider API) auth as the seeds write it: `{query, params, body, headers}`.
 * Every part is optional.
 */
export interface Auth {
    /** Headers added to every forwarded request. */
    headers?: Record<string, AuthValue>;
    /** Query parameters merged into the receiver URL. */
    query?: Record<string, AuthValue>;
    /** Values for `:name` / `{name}` placeholders in the receiver URL. */
    params?: Record<string, AuthValue>;
    /** Fields merged into a JSON object body. */
    body?: JsonObject;
}
export interface AppEnv {
    slug: string;
    /** Base of the provider's API in this env; relative registration URLs resolve against it. */
    base_url?: string | null;
}
export interface CreateAppRequest {
    tag: string;
    name: string;
    description?: string | null;
    envs?: AppEnv[];
}
export interface UpdateAppRequest {
    name?: string;
    description?: string;
    envs?: AppEnv[];
}
export interface App {
    id: string;
    tag: string;
    name: string;
    description: string | null;
    envs: AppEnv[];
    created_at: string;
    updated_at: string;
}
/** Template of a provider registration request. */
export interface RequestTemplate {
    headers?: Record<string, string>;
    query?: Record<string, string>;
    params?: Record<string, string>;
    body?: JsonValue;
}
export interface WebhookEnv {
    slug: string;
    /**
     * The provider's API for registering a webhook URL in this env (absolute, or relative to the
     * app env's `base_url`). Without it the env is in link mode: the link is pasted into the
     * provider's dashboard.
     */
    registration_url?: string | null;
    method?: HttpMethod | null;
    /** Template of the registration request. */
    sample?: RequestTemplate | null;
}
export interface EventDef {
    tag: string;
    name: string;
    description?: string | null;
    /** Where the event name is in a payload: `$Event{type}`, `$Event{data}{type}`. */
    selector: string;
    sample?: JsonValue | null;
}
export type VerificationScheme = 'none' | 'stripe' | 'github' | 'shopify' | 'slack' | 'paystack' | 'standard_webhooks' | 'hmac' | 'basic' | 'api_key';
/** `{"scheme": S, ...options}`; the options depend on the scheme. */
export interface Verification {
    scheme: VerificationScheme;
    [option: string]: JsonValue | undefined;
}
/** Body of `POST /api/v1/apps/{app}/webhooks` and `PUT /api/v1/apps/{app}/webhooks/{webhook}`. */
export interface WebhookRequest {
    tag: string;
    name: string;
    description?: string | null;
    verification?: Verification | null;
    envs?: WebhookEnv[];
    events?: EventDef[];
}
export interface Webhook {
    id: string;
    /** App tag. */
    app: string;
    tag: string;
    name: string;
    description: string | null;
    verification: Verification;
    envs: Array<Omit<WebhookEnv, 'method'> & {
        method: string | null;
    }>;
    events: EventDef[];
    created_at: string;
    updated_at: string;
}
export interface ProductEnv {
    slug: string;
    name?: string | null;
}
export interface CreateProductRequest {
    tag: string;
    name: string;
    envs?: ProductEnv[];
}
export interface UpdateProductRequest {
    name?: string;
    envs?: ProductEnv[];
}
export interface Product {
    id: string;
    tag: string;
    name: string;
    envs: ProductEnv[];
    created_at: string;
    updated_at: string;
}
export interface ConnectionEnv {
    product_env: string;
    app_env: string;
    /** Credentials for the provider's API in this env (used for full registration). */
    auth?: Auth | null;
}
export interface ConnectAppRequest {
    /** App tag. */
    app: string;
    /** Defaults to the app's tag. One app may be connected several times under different access tags. */
    access_tag?: string | null;
    envs?: ConnectionEnv[];
}
export interface UpdateConnectionRequest {
    envs: ConnectionEnv[];
}
export interface ConnectionEnvView {
    product_env: string;
    app_env: string;
    /** Whether provider API credentials are set (values are not shown). */
    has_auth: boolean;
}
/** A connected app. */
export interface Connection {
    id: string;
    /** Product tag. */
    product: string;
    /** App tag. */
    app: string;
    access_tag: string;
    envs: ConnectionEnvView[];
    created_at: string;
    updated_at: string;
}
/** Where events of a registration go (auth values are not echoed). */
export interface ReceiverView {
    url: string;
    method: string;
    /** Names of the injected auth headers. */
    auth_headers: string[];
}
export type ProviderRegistrationStatus = 'not_applicable' | 'skipped' | 'registered' | 'failed' | 'deregistered';
export interface ProviderRegistration {
    status: ProviderRegistrationStatus | (string & {});
    provider_id: string | null;
    http_status: number | null;
    message: string | null;
}
/** A registration: one ingest link tied to a receiver. */
export interface Registration {
    id: string;
    product: string;
    access_tag: string;
    app: string;
    webhook: string;
    /** The event this link is for; `null` for a link carrying all the webhook's events. */
    event: string | null;
    /** Product env slug. */
    env: string;
    app_env: string;
    /** The ingest link (same as `link`). */
    url: string;
    link: string;
    receiver: ReceiverView | null;
    active: boolean;
    provider_registration: ProviderRegistration;
    /** Secret of the Standard Webhooks signature on forwarded requests (`whsec_…`). */
    signing_secret: string;
    has_verification_secret: boolean;
    /** Retry schedule of this registration, when it overrides the server default. */
    retry_schedule: string[] | null;
    created_at: string;
    updated_at: string;
}
/** One env of `processor.webhook.enable`. */
export interface EnableEnv {
    /** Product env slug. */
    slug: string;
    /** Receiver URL. */
    url: string;
    /** Defaults to `POST`. */
    method?: HttpMethod;
    auth?: Auth;
    /** Secret inbound calls are verified against (the webhook's scheme says how). */
    verification_secret?: string;
}
export interface EnableRequest {
    product_tag: string;
    access_tag: string;
    webhook_tag: string;
    envs: EnableEnv[];
}
export interface EnableResponse {
    registrations: Registration[];
}
export interface ProcessorLinkRequest {
    product_tag: string;
    access_tag: string;
    webhook_tag: string;
    product_env: string;
    /** Receiver URL. */
    url: string;
    /** Defaults to `POST`. */
    method?: HttpMethod;
    auth?: Auth;
    verification_secret?: string;
}
export interface DisableRequest {
    product_tag: string;
    access_tag: string;
    webhook_tag: string;
    /** Product env slugs; every env when omitted. */
    envs?: string[];
}
export interface DisableResponse {
    /** The registrations retired by this call. */
    registrations: Registration[];
}
/** `product.webhook.generateLink`: a link for one event of a connected app in one env. */
export interface ProductLinkRequest {
    /** The app's access tag. */
    app: string;
    /** Event tag. */
    event: string;
    /** Product env slug. */
    env: string;
    /** Product tag; defaults to the product given to `product.init`. */
    product?: string;
    /** Webhook tag, when several webhooks of the app define the event. */
    webhook?: string;
    /** Receiver; without one, events are `held` until a receiver is set. */
    url?: string;
    method?: HttpMethod;
    auth?: Auth;
    verification_secret?: string;
}
/** The answer of both `generateLink` calls. */
export interface LinkResponse {
    /** The ingest link to give the provider. */
    link: string;
    registration: Registration;
    /** Secret of the Standard Webhooks signature on forwarded requests. */
    signing_secret: string;
}
export interface ListRegistrationsQuery {
    /** Product tag. */
    product: string;
    access_tag?: string;
}
export interface ReceiverInput {
    url: string;
    /** Defaults to `POST`. */
    method?: HttpMethod;
    auth?: Auth;
}
export interface UpdateRegistrationRequest {
    /** New receiver; held events go out once one is set. */
    receiver?: ReceiverInput;
    /** Secret inbound calls are verified against; `null` clears it. */
    verification_secret?: string | null;
    /** Waits after each failed attempt (`["10s", "1m"]`); `null` returns to the server default. */
    retry_schedule?: string[] | null;
    active?: boolean;
}
export type EventStatus = 'received' | 'delivering' | 'delivered' | 'failed' | 'rejected' | 'held';
/** Which events: the filter of `events.list` and `events.iterate` (and of the server's event stream and bulk replays); every field narrows the result. */
export interface EventFilter {
    /** Product tag. */
    product?: string;
    access_tag?: string;
    /** Webhook tag. */
    webhook?: string;
    /** Event name found by the webhook's selectors. */
    event?: string;
    env?: string;
    status?: EventStatus;
    /** Registration id. */
    registration?: string;
    /** Received at or after (RFC 3339 string or a Date). */
    since?: string | Date;
    /** Received before (RFC 3339 string or a Date). */
    until?: string | Date;
}
/** A page of `events.list`: its filter, page size and cursor. */
export interface EventQuery extends EventFilter {
    /** Page size, 1–500 (server default 50). */
    limit?: number;
    /** `next_cursor` of the previous page. */
    cursor?: string;
}
/** A bulk replay to start (`events.replayAll`) or preview: which events, and how fast. */
export interface NewReplay extends EventFilter {
    /** Events per second, 1 to the server's `replay.rate` (its default). */
    rate?: number;
}
/** A bulk replay's filter as the server shows it: every field, `null` when unset. */
export type ReplayFilterView = {
    [K in keyof EventFilter]-?: Exclude<EventFilter[K], Date> | null;
};
/** A bulk replay and its progress. */
export interface ReplayJob {
    id: string;
    status: 'running' | 'completed' | 'cancelled';
    filter: ReplayFilterView;
    /** Events per second. */
    rate: number;
    /** Events that matched when the job was created. */
    total: number;
    /** Events queued again so far. */
    replayed: number;
    /** Matching events that could not be replayed (rejected, held, already queued, or being delivered at that moment). */
    skipped: number;
    /** `replayed + skipped`. */
    processed: number;
    /** `processed / total`, 0–1 (1 once completed). */
    progress: number;
    /** Id of the last event handled; the job resumes after it. */
    cursor: string | null;
    created_at: string;
    updated_at: string;
    finished_at: string | null;
}
export interface VerificationResult {
    scheme: string;
    ok: boolean;
    code: string | null;
    message: string | null;
}
/** A received event. */
export interface HooklineEvent {
    id: string;
    registration_id: string;
    product: string;
    access_tag: string;
    webhook: string;
    env: string;
    /** Event name found by the webhook's selectors. */
    event: string | null;
    status: EventStatus;
    received_at: string;
    updated_at: string;
    attempts: number;
    next_attempt_at: string | null;
    delivered_at: string | null;
    last_response_status: number | null;
    last_error: string | null;
    provider_event_id: string | null;
    verification: VerificationResult | null;
}
export interface EventPage {
    data: HooklineEvent[];
    /** Pass as `cursor` for the next page; `null` on the last page. */
    next_cursor: string | null;
}
/** The request a provider made on an ingest link. */
export interface InboundRequest {
    method: string;
    query: string | null;
    /** `[name, value]` pairs in the order received. */
    headers: Array<[string, string]>;
    /** The body as text when it is UTF-8. */
    body: string | null;
    /** The body in base64 when it is not UTF-8. */
    body_base64: string | null;
    body_size: number;
}
export type AttemptErrorKind = 'timeout' | 'dns' | 'connect' | 'tls' | 'target_not_allowed' | 'status' | 'io' | 'request' | 'secret_unreadable';
export interface DeliveryAttempt {
    id: string;
    /** The delivery it was made for. */
    delivery_id: string;
    /** 1-based, over its delivery's life. */
    number: number;
    started_at: string;
    duration_ms: number;
    request_url: string;
    response_status: number | null;
    /** First 4 KiB of the response body. */
    response_excerpt: string | null;
    error_kind: AttemptErrorKind | (string & {}) | null;
    error: string | null;
}
export type DeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed' | 'held' | 'filtered' | 'paused';
/** The event on its way to one destination. */
export interface Delivery {
    id: string;
    event_id: string;
    destination_id: string;
    /** `pending`: queued, due now or waiting for a retry at `next_attempt_at`. */
    status: DeliveryStatus | (string & {});
    /** This delivery's attempts, first to last. */
    attempts: DeliveryAttempt[];
    next_attempt_at: string | null;
    delivered_at: string | null;
    last_response_status: number | null;
    last_error: string | null;
    created_at: string;
    updated_at: string;
}
/** One event with its request, its deliveries and every attempt. */
export interface EventDetail extends HooklineEvent {
    request: InboundRequest;
    /** Every attempt of every delivery, first to last. */
    attempt_log: DeliveryAttempt[];
    /** One per destination; none for a rejected event. */
    deliveries: Delivery[];
}
export interface Health {
    status: string;
}
/** The error body every management endpoint answers with. */
export interface ErrorBody {
    error: {
        code: string;
        message: string;
    };
}
//# sourceMappingURL=types.d.ts.map