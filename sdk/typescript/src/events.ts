import { seg, type Transport } from './http.js';
import type { Delivery, EventDetail, EventPage, EventQuery, HooklineEvent, NewReplay, ReplayJob } from './types.js';

/** `/api/v1/events`: received events and their delivery attempts. */
export class Events {
  constructor(private readonly http: Transport) {}

  /** One page of events, newest first. Pass the page's `next_cursor` as `cursor` for the next one. */
  async list(query: EventQuery = {}): Promise<EventPage> {
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
  async *iterate(query: EventQuery = {}): AsyncGenerator<EventPage, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.list({ ...query, cursor });
      yield page;
      if (!page.next_cursor || page.data.length === 0) return;
      cursor = page.next_cursor;
    }
  }

  /** One event with its request and every delivery attempt. */
  async get(id: string): Promise<EventDetail> {
    return this.http.request('GET', `/api/v1/events/${seg(id)}`);
  }

  /** Queue every delivery of an event again that is delivered, failed, or waiting for a retry. */
  async replay(id: string): Promise<HooklineEvent> {
    return this.http.request('POST', `/api/v1/events/${seg(id)}/replay`);
  }

  /** Queue one delivery again (delivered, failed, or waiting for a retry). */
  async replayDelivery(id: string): Promise<Delivery> {
    return this.http.request('POST', `/api/v1/deliveries/${seg(id)}/replay`);
  }

  /**
   * Start a bulk replay of every event matching the filter received until now, oldest first,
   * at `rate` events per second. The server keeps the job and resumes it after a restart.
   */
  async replayAll(replay: NewReplay = {}): Promise<ReplayJob> {
    return this.http.request('POST', '/api/v1/replays', { body: replay });
  }

  /** How many events `replayAll` with this filter would go through now; starts nothing. */
  async previewReplay(replay: NewReplay = {}): Promise<number> {
    const { matching } = await this.http.request<{ matching: number }>('POST', '/api/v1/replays/preview', {
      body: replay,
    });
    return matching;
  }

  /** A bulk replay's progress. */
  async getReplay(id: string): Promise<ReplayJob> {
    return this.http.request('GET', `/api/v1/replays/${seg(id)}`);
  }
}
