import { Hookline } from './client.js';
export { Hookline, DEFAULT_BASE_URL, type HooklineOptions } from './client.js';
export { HooklineError } from './errors.js';
export { HttpMethods } from './types.js';
export type * from './types.js';
export { Apps, AppWebhooks } from './apps.js';
export { Products } from './products.js';
export { Registrations } from './registrations.js';
export { Events } from './events.js';
export { Processor, ProcessorWebhook } from './processor.js';
export { ProductClient, ProductWebhook } from './product.js';
export default Hookline;
//# sourceMappingURL=index.d.ts.map