"""Signs and verifies webhooks with the providers' own Python libraries.

Called by hookline-verify's peer tests (tests/it/peers.rs). The body is read
from standard input as raw bytes; results go to standard output. Exit status
0 means success; for `standard-verify`, 1 means the library rejected the
request (its reason is printed on standard error).

Usage:
  py_peer.py check
  py_peer.py stripe-sign SECRET TIMESTAMP           -> Stripe-Signature value
  py_peer.py standard-sign SECRET MSG_ID TIMESTAMP  -> webhook-signature value
  py_peer.py standard-verify SECRET MSG_ID TIMESTAMP SIGNATURE
"""

import sys
from datetime import datetime, timezone

import standardwebhooks
import stripe


def body() -> str:
    # Both libraries take the payload as text and sign its UTF-8 encoding.
    return sys.stdin.buffer.read().decode("utf-8")


def main(args):
    command = args[0] if args else ""
    if command == "check":
        print(f"stripe {stripe.VERSION}, standardwebhooks {standardwebhooks.__version__}")
        return 0
    if command == "stripe-sign":
        secret, timestamp = args[1], int(args[2])
        # The library's own helper for producing a test Stripe-Signature header.
        print(stripe.WebhookSignature.generate_signature_header(body(), secret, timestamp))
        return 0
    if command == "standard-sign":
        secret, msg_id, timestamp = args[1], args[2], int(args[3])
        when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
        print(standardwebhooks.Webhook(secret).sign(msg_id, when, body()))
        return 0
    if command == "standard-verify":
        secret, msg_id, timestamp, signature = args[1:5]
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        }
        try:
            standardwebhooks.Webhook(secret).verify(body(), headers, json_parse=False)
        except standardwebhooks.WebhookVerificationError as e:
            print(f"rejected: {e}", file=sys.stderr)
            return 1
        print("verified")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
