#!/usr/bin/env python3
"""Writes the seed corpora in corpus/<target>/ from real provider examples.

The signed examples are the ones the unit tests of hookline-verify use (the
providers' documented examples where they publish one), signed here with
Python's hmac, so every seed passes verification and the fuzzer starts from
calls that reach the checks made after the signature. Run from fuzz/:
`python3 seeds.py`. The files are checked in; rerun only to change them.
"""

import base64
import hashlib
import hmac
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = os.path.join(HERE, "..", "crates", "hookline", "presets")


def hexmac(alg, key, msg):
    return hmac.new(key.encode(), msg, alg).hexdigest()


def b64mac(alg, key, msg):
    return base64.b64encode(hmac.new(key, msg, alg).digest()).decode()


def request(headers, body, method="POST", target="/in/lnk_0123456789abcdef"):
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


# name: (verification, secret, now, request bytes)
SIGNED = {}

body = '{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded","data":{"object":{"amount":2000,"currency":"eur","description":"café"}}}'.encode()
secret, ts = "whsec_test_secret_0123456789", 1700000000
sig = hexmac(hashlib.sha256, secret, f"{ts}.".encode() + body)
assert sig == "4d02b356dbdae057cf6a4e9f2e259bc65de208e6f4400bb92944c189c02ed68d"
SIGNED["stripe"] = ({"scheme": "stripe"}, secret, ts + 5, request(
    [("Content-Type", "application/json; charset=utf-8"),
     ("Stripe-Signature", f"t={ts},v1={'0' * 64},v1={sig},v0={'0' * 64}")], body))

body, secret = b"Hello, World!", "It's a Secret to Everybody"
SIGNED["github"] = ({"scheme": "github"}, secret, 0, request(
    [("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
     ("X-Hub-Signature-256", "sha256=" + hexmac(hashlib.sha256, secret, body))], body))

body = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"12.50"}'
secret = "shpss_0123456789abcdef"
SIGNED["shopify"] = ({"scheme": "shopify"}, secret, 0, request(
    [("X-Shopify-Topic", "orders/create"), ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
     ("X-Shopify-Hmac-Sha256", base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode())], body))

body = b'{"event":"charge.success","data":{"id":302961,"reference":"qTPrJoy9Bx","amount":10000}}'
secret = "sk_test_0123456789abcdef"
SIGNED["paystack"] = ({"scheme": "paystack"}, secret, 0, request(
    [("x-paystack-signature", hexmac(hashlib.sha512, secret, body))], body))

body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebbot&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8490703"
secret, ts = "8f742231b10e8888abcd99yyyzzz85a5", 1531420618
sig = "v0=" + hexmac(hashlib.sha256, secret, f"v0:{ts}:".encode() + body)
assert sig == "v0=0250e0cdd1c47a0bbb436aef240d2595fad4efdbc83b0d6636c1c1362b35a689"
SIGNED["slack_command"] = ({"scheme": "slack"}, secret, ts, request(
    [("Content-Type", "application/x-www-form-urlencoded"), ("X-Slack-Request-Timestamp", str(ts)),
     ("X-Slack-Signature", sig)], body))

body = b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
SIGNED["slack_challenge"] = ({"scheme": "slack", "tolerance_secs": 60}, secret, ts, request(
    [("Content-Type", "application/json"), ("X-Slack-Request-Timestamp", str(ts)),
     ("X-Slack-Signature", "v0=" + hexmac(hashlib.sha256, secret, f"v0:{ts}:".encode() + body))], body))

body = b'{"token":"z26uFbvR1xHJEdHE1OQiO6t8","team_id":"T061EG9RZ","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> is it everything a river should be?","ts":"1515449522.000016","channel":"C0LAE2Q4S"},"type":"event_callback","event_id":"Ev0LAN670R","event_time":1515449522}'
SIGNED["slack_event"] = ({"scheme": "slack"}, secret, ts, request(
    [("Content-Type", "application/json"), ("X-Slack-Request-Timestamp", str(ts)),
     ("X-Slack-Signature", "v0=" + hexmac(hashlib.sha256, secret, f"v0:{ts}:".encode() + body))], body))

body, secret = b'{"test": 2432232314}', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
msg_id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
sig = "v1," + b64mac(hashlib.sha256, base64.b64decode(secret[6:]), f"{msg_id}.{ts}.".encode() + body)
assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SIGNED["standard_webhooks"] = ({"scheme": "standard_webhooks"}, secret, ts, request(
    [("webhook-id", msg_id), ("webhook-timestamp", str(ts)), ("webhook-signature", "v1,AAAA " + sig)], body))
SIGNED["svix"] = ({"scheme": "standard_webhooks", "tolerance_secs": 0}, secret, ts, request(
    [("svix-id", msg_id), ("svix-timestamp", str(ts)), ("svix-signature", sig)], body))

body, secret, ts = b'{"kind":"invoice.paid","id":7}', "hmac-secret-0123456789", 1700000000
SIGNED["hmac"] = ({"scheme": "hmac", "algorithm": "sha512", "header": "x-signature", "prefix": "sha512=",
                   "encoding": "base64", "signed": "{id}.{timestamp}.{method}.{query}.{body}",
                   "timestamp_header": "x-timestamp", "id_header": "x-delivery", "tolerance_secs": 30},
                  secret, ts, request(
    [("X-Delivery", "dlv_42"), ("X-Timestamp", str(ts)),
     ("X-Signature", "sha512=" + b64mac(hashlib.sha512, secret.encode(), f"dlv_42.{ts}.POST.a=1&b=2.".encode() + body))],
    body, target="/in/lnk_0123456789abcdef?a=1&b=2"))

SIGNED["basic"] = ({"scheme": "basic"}, "hook:s3cret:with-colon", 0, request(
    [("Authorization", "Basic " + base64.b64encode(b"hook:s3cret:with-colon").decode())], b"{}"))
SIGNED["api_key_header"] = ({"scheme": "api_key", "header": "X-Hook-Token"}, "k-123", 0, request(
    [("X-Hook-Token", "k-123")], b"{}"))
SIGNED["api_key_query"] = ({"scheme": "api_key", "query": "token"}, "k+1", 0, request(
    [], b"{}", target="/in/lnk_0123456789abcdef?a=b&token=k%2B1"))
SIGNED["none"] = ({"scheme": "none"}, "", 0, request([("Content-Type", "text/plain")], b"anything"))

INGEST = ["stripe", "github", "shopify", "paystack", "slack_command", "slack_challenge",
          "slack_event", "standard_webhooks", "svix"]

SELECTORS = {
    "event_type": (b"$Event{type}", SIGNED["stripe"][3].split(b"\r\n\r\n", 1)[1]),
    "event_nested": (b"$Event{data}{object}{currency}", SIGNED["stripe"][3].split(b"\r\n\r\n", 1)[1]),
    "event_index": (b"$Event{items}{1}{kind}", b'{"items":[{"kind":"a"},{"kind":"b"}]}'),
    "event_number": (b"$Event{event_time}", SIGNED["slack_event"][3].split(b"\r\n\r\n", 1)[1]),
    "header": (b"$Header{X-GitHub-Event}", b" push "),
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


for name, (v, secret, now, req) in SIGNED.items():
    write("verify", name, json.dumps(v, separators=(",", ":")).encode() + b"\n" + secret.encode() + b"\n" + str(now).encode() + b"\n" + req)
for name in INGEST:
    _, secret, now, req = SIGNED[name]
    write("ingest", name, secret.encode() + b"\n" + str(now).encode() + b"\n" + req)
for name, (selector, body) in SELECTORS.items():
    write("selector", name, selector + b"\n" + body)

ANSWERS = {
    "stripe": b'{"id":"we_1Mr5jULkdIwHu7ix1ibLTM0x","object":"webhook_endpoint","enabled_events":["charge.succeeded"],"secret":"whsec_wRNftLajMZNeslQOP6vEPm4iVx5NlZ6z","status":"enabled","url":"https://example.com/my/webhook/endpoint"}',
    "github": b'{"type":"Repository","id":12345678,"name":"web","active":true,"events":["push","pull_request"],"config":{"content_type":"json","insecure_ssl":"0","url":"https://example.com/webhook"}}',
}
ERRORS = {
    "stripe_error": ("stripe", b'{"error":{"code":"resource_missing","message":"No such webhook endpoint: \'we_123\'","type":"invalid_request_error"}}'),
    "github_error": ("github", b'{"message":"Validation Failed","errors":[{"resource":"Hook","code":"custom","message":"Hook already exists on this repository"}],"documentation_url":"https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook"}'),
}
AUTH = {
    "stripe": {"headers": {"Authorization": "Bearer sk_test_0123456789"}},
    "github": {"headers": {"Authorization": "Bearer ghp_0123456789"}, "params": {"owner": "acme", "repo": "shop"}},
}


def call(preset_name):
    preset = json.load(open(os.path.join(PRESETS, preset_name + ".json")))
    w = preset["webhooks"][0]
    reg = w["registration"]
    template = dict(reg.get("sample", {}))
    template["provider_api"] = {k: reg[k] for k in ("id_path", "secret_path", "update", "deregister") if k in reg}
    return json.dumps({
        "base_url": preset.get("base_url"), "url": reg["url"], "method": reg["method"],
        "template": template, "auth": AUTH[preset_name],
        "events": [e["tag"] for e in w["events"]][:3], "secret": "whsec_generated_0123456789",
        "provider_id": "12345678",
    }, separators=(",", ":"), ensure_ascii=False).encode()


for name, answer in ANSWERS.items():
    write("provider_template", name, call(name) + b"\n" + answer)
for name, (preset_name, answer) in ERRORS.items():
    write("provider_template", name, call(preset_name) + b"\n" + answer)
