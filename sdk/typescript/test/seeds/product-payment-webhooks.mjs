// Seed example: shared/seeds/product-webhooks.md, "Use Cases" → "Payment Webhooks".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
const ductape = new Hookline({ accessKey: process.env.HOOKLINE_ACCESS_KEY, baseUrl: process.env.HOOKLINE_URL });

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
