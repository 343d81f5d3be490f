import { seg } from './http.js';
/** `/api/v1/registrations`: links tied to receivers. */
export class Registrations {
    http;
    constructor(http) {
        this.http = http;
    }
    /** A product's registrations, optionally of one access tag. */
    async list(query) {
        return this.http.request('GET', '/api/v1/registrations', { query });
    }
    async get(id) {
        return this.http.request('GET', `/api/v1/registrations/${seg(id)}`);
    }
    /**
     * Change a registration's receiver, verification secret, retry schedule or state.
     * Events `held` for want of a receiver go out once one is set.
     */
    async update(id, patch) {
        return this.http.request('PATCH', `/api/v1/registrations/${seg(id)}`, { body: patch });
    }
}
//# sourceMappingURL=registrations.js.map