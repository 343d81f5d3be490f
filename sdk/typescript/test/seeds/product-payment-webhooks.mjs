// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Use Cases" → "Payment Webhooks".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim.
// Stripe payment events
const stripeWebhooks = [
  'payment.succeeded',
  'payment.failed',
  'charge.refunded',
  'customer.created',
];

for (const event of stripeWebhooks) {
  const url = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event,
    env: 'prd',
    product: 'payment-service',
  });
  console.log(`${event}: ${url}`);
}
