import { type Transport } from './http.js';
import type { Delivery, EventDetail, EventPage, EventQuery, HooklineEvent, NewReplay, ReplayJob } from './types.js';
/** `/api/v1/events`: received events and their delivery attempts. */
export declare class Events {
    private readonly http;
    constructor(http: Transport);
    /** One page of events, newest first. Pass the page's `next_cursor` as `cursor` for the next one. */
    list(query?: EventQuery): Promise<EventPage>;
    /**
     * Every page matching `query`, newest first, following `next_cursor` until the last page.
     *
     * ```ts
     * for await (const page of hookline.events.iterate({ product: 'shop', status: 'failed' })) {
     *   for (const event of page.data) console.log(event.id);
     * }
     * ```
     */
    iterate(query?: EventQuery): AsyncGenerator<EventPage, void, undefined>;
    /** One event with its request and every delivery attempt. */
    get(id: string): Promise<EventDetail>;
    /** Queue every delivery of an event again that is delivered, failed, or waiting for a retry. */
    replay(id: string): Promise<HooklineEvent>;
    /** Queue one delivery again (delivered, failed, or waiting for a retry). */
    replayDelivery(id: string): Promise<Delivery>;
    /**
     * Start a bulk replay of every event matching the filter received until now, oldest first,
     * at `rate` events per second. The server keeps the job and resumes it after a restart.
     */
    replayAll(replay?: NewReplay): Promise<ReplayJob>;
    /** How many events `replayAll` with this filter would go through now; starts nothing. */
    previewReplay(replay?: NewReplay): Promise<number>;
    /** A bulk replay's progress. */
    getReplay(id: string): Promise<ReplayJob>;
}
//# sourceMappingURL=events.d.ts.map