// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Complete Example".
// Verbatim except the import line and the constructor's options (marked "seed:").
import Hookline from '@hookline/sdk'; // seed: import Ductape from '@ductape/sdk';

async function setupWebhooks() {
  const ductape = new Hookline({
    accessKey: process.env.HOOKLINE_ADMIN_KEY, // seed: accessKey: 'your-access-key',
  });

  await ductape.product.init('ecommerce-platform');

  // Generate webhook URLs for Stripe events
  const paymentSuccessUrl = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event: 'payment.succeeded',
    env: 'prd',
    product: 'ecommerce-platform',
  });

  const paymentFailedUrl = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event: 'payment.failed',
    env: 'prd',
    product: 'ecommerce-platform',
  });

  const refundUrl = await ductape.product.webhook.generateLink({
    app: 'stripe-payments',
    event: 'charge.refunded',
    env: 'prd',
    product: 'ecommerce-platform',
  });

  console.log('Configure these URLs in Stripe dashboard:');
  console.log('Payment Success:', paymentSuccessUrl);
  console.log('Payment Failed:', paymentFailedUrl);
  console.log('Refund:', refundUrl);

  // Fetch all configured webhooks
  const webhooks = await ductape.product.webhook.fetchAllForProductApp('stripe-payments');
  console.log(`Total webhooks configured: ${webhooks.length}`);
}

setupWebhooks().catch(console.error);
