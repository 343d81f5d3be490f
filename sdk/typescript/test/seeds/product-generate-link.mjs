// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Generating Webhook Links".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim.
const webhookUrl = await ductape.product.webhook.generateLink({
  app: 'stripe-payments',
  event: 'payment.succeeded',
  env: 'prd',
  product: 'my-product',
});

console.log('Webhook URL:', webhookUrl);
// Use this URL in Stripe dashboard
