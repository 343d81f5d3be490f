// Seed example: test/fixtures/seed-docs/registering-for-webhooks.md, "1. Full Registration", "Example Usage".
//
// Harness prelude (the seed snippet assumes a client named `ductape` and `HttpMethods` in
// scope): the import line and the constructor, with Hookline's options.
import Hookline, { HttpMethods } from '@hookline/sdk';
// The key comes from HOOKLINE_ADMIN_KEY, the address from HOOKLINE_URL.
const ductape = new Hookline();

// ---- seed code below, verbatim except for ONE fix: inside `auth` the seed separates the
// properties with `;` (`query: {};` … `headers: {…};`), which is a syntax error in a
// JavaScript object literal, so those `;` are `,` here. The test harness replaces the
// receiver URLs (https://api.example.com/…, https://staging.example.com/…) by its local
// receiver's URL before running this file.
await ductape.processor.webhook.enable({
  product_tag: "my_product",
  access_tag: "admin",
  webhook_tag: "order_created",
  envs: [
    {
      slug: "prd",
      url: "https://api.example.com/webhooks/orders",
      method: HttpMethods.POST,
      auth: {
        query: {},
        params: {},
        body: {},
        headers: {
            Authorization: "Bearer <<token>>"
        },
      }
    },
    {
      slug: "stg",
      url: "https://staging.example.com/webhooks/orders",
      method: HttpMethods.POST,
      auth: {
        query: {},
        params: {},
        body: {},
        headers: {
            Authorization: "Bearer <<token>>"
        },
      }
    }
  ]
});
