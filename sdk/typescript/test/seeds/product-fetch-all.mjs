// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Fetching App Webhooks".
// Verbatim except the import line and the constructor's options (marked "seed:").
import Hookline from '@hookline/sdk'; // seed: import Ductape from '@ductape/sdk';

const ductape = new Hookline({
  accessKey: process.env.HOOKLINE_ADMIN_KEY, // seed: accessKey: 'your-access-key',
});

await ductape.product.init('my-product');

const webhooks = await ductape.product.webhook.fetchAllForProductApp('stripe-payments');

webhooks.forEach(webhook => {
  console.log(`Webhook: ${webhook.event}`);
  console.log(`URL: ${webhook.url}`);
});
