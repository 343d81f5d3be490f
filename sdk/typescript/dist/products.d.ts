import { type Transport } from './http.js';
import type { ConnectAppRequest, Connection, CreateProductRequest, Product, UpdateConnectionRequest, UpdateProductRequest } from './types.js';
/** `/api/v1/products`: products, their envs and connected apps. */
export declare class Products {
    private readonly http;
    constructor(http: Transport);
    create(product: CreateProductRequest): Promise<Product>;
    list(): Promise<Product[]>;
    get(product: string): Promise<Product>;
    /** Update a product's name or envs. */
    update(product: string, patch: UpdateProductRequest): Promise<Product>;
    /** Delete a product (refused with 409 while apps are connected to it). */
    delete(product: string): Promise<void>;
    /** Connect an app to a product under an access tag (default: the app's tag). */
    connectApp(product: string, connection: ConnectAppRequest): Promise<Connection>;
    listApps(product: string): Promise<Connection[]>;
    getApp(product: string, accessTag: string): Promise<Connection>;
    /** Replace a connected app's env mapping and credentials. */
    updateApp(product: string, accessTag: string, update: UpdateConnectionRequest): Promise<Connection>;
    /** Disconnect an app (refused with 409 while it has active registrations). */
    disconnectApp(product: string, accessTag: string): Promise<void>;
}
//# sourceMappingURL=products.d.ts.map