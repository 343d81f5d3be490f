// Signs a body the way GitHub does, with @octokit/webhooks-methods.
// Called by hookline-verify's peer tests (tests/it/peers.rs).
//
// Usage: node github_sign.mjs check
//        node github_sign.mjs sign SECRET < body   -> X-Hub-Signature-256 value
import { readFileSync } from "node:fs";
import { sign } from "@octokit/webhooks-methods";

const [command, secret] = process.argv.slice(2);
if (command === "check") {
  console.log(`@octokit/webhooks-methods ${sign.VERSION}`);
} else if (command === "sign" && secret) {
  // The library signs a string; read stdin as UTF-8 text.
  const body = readFileSync(0, "utf8");
  console.log(await sign(secret, body));
} else {
  console.error("usage: node github_sign.mjs check | sign SECRET < body");
  process.exit(2);
}
