// Seed example: test/fixtures/seed-docs/product-webhooks.md, "Use Cases" → "Email Webhooks".
//
// Harness prelude (the seed snippet assumes a client named `ductape` in scope): the import
// line and the constructor, with Hookline's options.
import Hookline from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim.
// SendGrid email events
const emailWebhooks = [
  'email.delivered',
  'email.opened',
  'email.bounced',
  'email.clicked',
];

for (const event of emailWebhooks) {
  const url = await ductape.product.webhook.generateLink({
    app: 'sendgrid-email',
    event,
    env: 'prd',
    product: 'notification-service',
  });
  console.log(`${event}: ${url}`);
}
