import { seg, type Transport } from './http.js';
import type {
  ConnectAppRequest,
  Connection,
  CreateProductRequest,
  Product,
  UpdateConnectionRequest,
  UpdateProductRequest,
} from './types.js';

/** `/api/v1/products`: products, their envs and connected apps. */
export class Products {
  constructor(private readonly http: Transport) {}

  async create(product: CreateProductRequest): Promise<Product> {
    return this.http.request('POST', '/api/v1/products', { body: product });
  }

  async list(): Promise<Product[]> {
    return this.http.request('GET', '/api/v1/products');
  }

  async get(product: string): Promise<Product> {
    return this.http.request('GET', `/api/v1/products/${seg(product)}`);
  }

  /** Update a product's name or envs. */
  async update(product: string, patch: UpdateProductRequest): Promise<Product> {
    return this.http.request('PATCH', `/api/v1/products/${seg(product)}`, { body: patch });
  }

  /** Delete a product (refused with 409 while apps are connected to it). */
  async delete(product: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/products/${seg(product)}`);
  }

  /** Connect an app to a product under an access tag (default: the app's tag). */
  async connectApp(product: string, connection: ConnectAppRequest): Promise<Connection> {
    return this.http.request('POST', `/api/v1/products/${seg(product)}/apps`, { body: connection });
  }

  async listApps(product: string): Promise<Connection[]> {
    return this.http.request('GET', `/api/v1/products/${seg(product)}/apps`);
  }

  async getApp(product: string, accessTag: string): Promise<Connection> {
    return this.http.request('GET', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`);
  }

  /** Replace a connected app's env mapping and credentials. */
  async updateApp(product: string, accessTag: string, update: UpdateConnectionRequest): Promise<Connection> {
    return this.http.request('PATCH', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`, { body: update });
  }

  /** Disconnect an app (refused with 409 while it has active registrations). */
  async disconnectApp(product: string, accessTag: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/products/${seg(product)}/apps/${seg(accessTag)}`);
  }
}
