import { seg } from './http.js';
/** `/api/v1/events`: received events and their delivery attempts. */
export class Events {
    http;
    constructor(http) {
        this.http = http;
    }
    /** One page of events, newest first. Pass the page's `next_cursor` as `cursor` for the next one. */
    async list(query = {}) {
        return this.http.request('GET', '/api/v1/events', { query });
    }
    /**
     * Every page matching `query`, newest first, following `next_cursor` until the last page.
     *
     * ```ts
     * for await (const page of hookline.events.iterate({ product: 'shop', status: 'failed' })) {
     *   for (const event of page.data) console.log(event.id);
     * }
     * ```
     */
    async *iterate(query = {}) {
        let cursor = query.cursor;
        for (;;) {
            const page = await this.list({ ...query, cursor });
            yield page;
            if (!page.next_cursor || page.data.length === 0)
                return;
            cursor = page.next_cursor;
        }
    }
    /** One event with its request and every delivery attempt. */
    async get(id) {
        return this.http.request('GET', `/api/v1/events/${seg(id)}`);
    }
    /** Queue every delivery of an event again that is delivered, failed, or waiting for a retry. */
    async replay(id) {
        return this.http.request('POST', `/api/v1/events/${seg(id)}/replay`);
    }
    /** Queue one delivery again (delivered, failed, or waiting for a retry). */
    async replayDelivery(id) {
        return this.http.request('POST', `/api/v1/deliveries/${seg(id)}/replay`);
    }
    /**
     * Start a bulk replay of every event matching the filter received until now, oldest first,
     * at `rate` events per second. The server keeps the job and resumes it after a restart.
     */
    async replayAll(replay = {}) {
        return this.http.request('POST', '/api/v1/replays', { body: replay });
    }
    /** How many events `replayAll` with this filter would go through now; starts nothing. */
    async previewReplay(replay = {}) {
        const { matching } = await this.http.request('POST', '/api/v1/replays/preview', {
            body: replay,
        });
        return matching;
    }
    /** A bulk replay's progress. */
    async getReplay(id) {
        return this.http.request('GET', `/api/v1/replays/${seg(id)}`);
    }
}
//# sourceMappingURL=events.js.map