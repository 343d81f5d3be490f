// Seed example: test/fixtures/seed-docs/registering-for-webhooks.md, "2. Generating a Registration Link",
// "Example Usage".
//
// Harness prelude (the seed snippet assumes a client named `ductape` and `HttpMethods` in
// scope): the import line and the constructor, with Hookline's options.
import Hookline, { HttpMethods } from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim. The test harness replaces the receiver URL
// (https://api.example.com/…) by its local receiver's URL before running this file.
const link = await ductape.processor.webhook.generateLink({
  product_tag: "my_product",
  access_tag: "admin",
  webhook_tag: "order_created",
  product_env: "production",
  url: "https://api.example.com/webhooks/orders",
  method: HttpMethods.POST
});

console.log("Register this link in your provider dashboard:", link);
