import { seg, type Transport } from './http.js';
import type { ListRegistrationsQuery, Registration, UpdateRegistrationRequest } from './types.js';

/** `/api/v1/registrations`: links tied to receivers. */
export class Registrations {
  constructor(private readonly http: Transport) {}

  /** A product's registrations, optionally of one access tag. */
  async list(query: ListRegistrationsQuery): Promise<Registration[]> {
    return this.http.request('GET', '/api/v1/registrations', { query });
  }

  async get(id: string): Promise<Registration> {
    return this.http.request('GET', `/api/v1/registrations/${seg(id)}`);
  }

  /**
   * Change a registration's receiver, verification secret, retry schedule or state.
   * Events `held` for want of a receiver go out once one is set.
   */
  async update(id: string, patch: UpdateRegistrationRequest): Promise<Registration> {
    return this.http.request('PATCH', `/api/v1/registrations/${seg(id)}`, { body: patch });
  }
}
