#!/usr/bin/env python3
"""Sign a webhook the way each vendor does, using the vendor's official library where one exists.

Reads JSON on stdin:
    {"vendor": str, "secret": str, "body": str, "timestamp": int, "id": str,
     "config": {...}}            # "config" only for generic-hmac (GenericHmacConfig fields)
Prints JSON on stdout:
    {"headers": {name: value, ...}}

The Rust test tests/official_libs.rs feeds these headers to our verifiers, so a disagreement
between our reading of a scheme and the vendor's own code fails a test.
"""

import base64
import hashlib
import hmac
import json
import sys
from datetime import datetime, timezone


def hmac_digest(algorithm: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def sign_github(req):
    # GitHub ships no official Python webhook library; this is the algorithm from
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    mac = hmac_digest("sha256", req["secret"].encode(), req["body"].encode())
    return {
        "X-Hub-Signature-256": "sha256=" + mac.hex(),
        "X-GitHub-Delivery": req["id"],
        "X-GitHub-Event": "push",
    }


def sign_gitlab(req):
    # GitLab does not sign: it sends the configured secret token verbatim.
    return {
        "X-Gitlab-Token": req["secret"],
        "X-Gitlab-Event-UUID": req["id"],
        "X-Gitlab-Event": "Push Hook",
    }


def sign_stripe(req):
    # Official library: stripe-python's WebhookSignature.generate_signature_header, which its
    # docstring describes as the way to sign payloads in tests.
    import stripe

    header = stripe.WebhookSignature.generate_signature_header(
        req["body"], req["secret"], timestamp=req["timestamp"]
    )
    return {"Stripe-Signature": header}


def sign_slack(req):
    # Official library: slack_sdk's SignatureVerifier.generate_signature.
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(req["timestamp"])
    signature = SignatureVerifier(req["secret"]).generate_signature(
        timestamp=timestamp, body=req["body"]
    )
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": timestamp}


def sign_shopify(req):
    # Shopify ships no official Python webhook library (shopify_python_api does not sign
    # webhooks); this is the documented algorithm: base64(HMAC-SHA256(secret, raw body)).
    mac = hmac_digest("sha256", req["secret"].encode(), req["body"].encode())
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode(),
        "X-Shopify-Webhook-Id": req["id"],
        "X-Shopify-Topic": "orders/create",
    }


def _when(req):
    return datetime.fromtimestamp(req["timestamp"], tz=timezone.utc)


def sign_standard_webhooks(req):
    # Official library: standardwebhooks.Webhook(secret).sign(msg_id, timestamp, payload).
    from standardwebhooks.webhooks import Webhook

    signature = Webhook(req["secret"]).sign(req["id"], _when(req), req["body"])
    return {
        "webhook-id": req["id"],
        "webhook-timestamp": str(req["timestamp"]),
        "webhook-signature": signature,
    }


def sign_svix(req):
    # Official library: svix.webhooks.Webhook(secret).sign(msg_id, timestamp, payload).
    from svix.webhooks import Webhook

    signature = Webhook(req["secret"]).sign(req["id"], _when(req), req["body"])
    return {
        "svix-id": req["id"],
        "svix-timestamp": str(req["timestamp"]),
        "svix-signature": signature,
    }


def sign_generic(req):
    # No vendor library by definition: an independent Python implementation of GenericHmacConfig.
    config = req.get("config") or {}
    timestamp_header = config.get("timestamp_header")
    default_template = "{timestamp}.{body}" if timestamp_header else "{body}"
    template = config.get("signed_content") or default_template
    content = template.replace("{timestamp}", str(req["timestamp"])).replace(
        "{body}", req["body"]
    )
    mac = hmac_digest(config.get("algorithm", "sha256"), req["secret"].encode(), content.encode())
    if config.get("encoding", "hex") == "base64":
        encoded = base64.b64encode(mac).decode()
    else:
        encoded = mac.hex()
    headers = {config["header"]: (config.get("prefix") or "") + encoded}
    if timestamp_header:
        headers[timestamp_header] = str(req["timestamp"])
    if config.get("delivery_id_header"):
        headers[config["delivery_id_header"]] = req["id"]
    return headers


SIGNERS = {
    "github": sign_github,
    "gitlab": sign_gitlab,
    "stripe": sign_stripe,
    "slack": sign_slack,
    "shopify": sign_shopify,
    "standard-webhooks": sign_standard_webhooks,
    "svix": sign_svix,
    "generic-hmac": sign_generic,
}


def main() -> int:
    req = json.load(sys.stdin)
    signer = SIGNERS.get(req.get("vendor"))
    if signer is None:
        print(f"unknown vendor {req.get('vendor')!r}", file=sys.stderr)
        return 2
    json.dump({"headers": signer(req)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
