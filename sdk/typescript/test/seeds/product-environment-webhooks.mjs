// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Environment-Specific Webhooks".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim.
const environments = ['dev', 'stg', 'prd'];

for (const env of environments) {
  const url = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event: 'payment.succeeded',
    env,
    product: 'payment-service',
  });
  console.log(`${env}: ${url}`);
}
