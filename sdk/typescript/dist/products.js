import { seg } from './http.js';
/** `/api/v1/products`: products, their envs and connected apps. */
export class Products {
    http;
    constructor(http) {
        this.http = http;
    }
    async create(product) {
        return this.http.request('POST', '/api/v1/products', { body: product });
    }
    async list() {
        return this.http.request('GET', '/api/v1/products');
    }
    async get(product) {
        return this.http.request('GET', `/api/v1/products/${seg(product)}`);
    }
    /** Update a product's name or envs. */
    async update(product, patch) {
        return this.http.request('PATCH', `/api/v1/products/${seg(product)}`, { body: patch });
    }
    /** Delete a product (refused with 409 while apps are connected to it). */
    async delete(product) {
        await this.http.request('DELETE', `/api/v1/products/${seg(product)}`);
    }
    /** Connect an app to a product under an access tag (default: the app's tag). */
    async connectApp(product, connection) {
        return this.http.request('POST', `/api/v1/products/${seg(product)}/apps`, { body: connection });
    }
    async listApps(product) {
        return this.http.request('GET', `/api/v1/products/${seg(product)}/apps`);
    }
    async getApp(product, accessTag) {
        return this.http.request('GET', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`);
    }
    /** Replace a connected app's env mapping and credentials. */
    async updateApp(product, accessTag, update) {
        return this.http.request('PATCH', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`, { body: update });
    }
    /** Disconnect an app (refused with 409 while it has active registrations). */
    async disconnectApp(product, accessTag) {
        await this.http.request('DELETE', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`);
    }
}
//# sourceMappingURL=products.js.map