import { type Transport } from './http.js';
import type { ListRegistrationsQuery, Registration, UpdateRegistrationRequest } from './types.js';
/** `/api/v1/registrations`: links tied to receivers. */
export declare class Registrations {
    private readonly http;
    constructor(http: Transport);
    /** A product's registrations, optionally of one access tag. */
    list(query: ListRegistrationsQuery): Promise<Registration[]>;
    get(id: string): Promise<Registration>;
    /**
     * Change a registration's receiver, verification secret, retry schedule or state.
     * Events `held` for want of a receiver go out once one is set.
     */
    update(id: string, patch: UpdateRegistrationRequest): Promise<Registration>;
}
//# sourceMappingURL=registrations.d.ts.map