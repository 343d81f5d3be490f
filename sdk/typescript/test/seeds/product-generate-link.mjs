// Seed example: shared/seeds/product-webhooks.md, "Generating Webhook Links".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
const ductape = new Hookline({ accessKey: process.env.HOOKLINE_ACCESS_KEY, baseUrl: process.env.HOOKLINE_URL });

// ---- seed code below, verbatim.
const webhookUrl = await ductape.product.webhook.generateLink({
  app: 'stripe-payments',
  event: 'payment.succeeded',
  env: 'prd',
  product: 'my-product',
});

console.log('Webhook URL:', webhookUrl);
// Use this URL in Stripe dashboard
