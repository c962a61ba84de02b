"""Writes fulfilment deliveries signed by the official Standard Webhooks package.

Tollgate signs the fulfilment messages it delivers to game backends per Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`; one `v1,<base64 HMAC-SHA256>` entry per
configured `whsec_` secret, space-separated, so a backend holding either the old or the new secret
during a rotation accepts the message). Each case written to
Tests/Fixtures/fulfilment/standard-webhooks-deliveries.json holds the secrets, the message id, the
unix timestamp, the exact body and the package's signature for each secret, in order;
Tests/TollgateFulfilmentTests/DeliverySignatureTests.swift checks that Tollgate signs byte for byte
the same.

To regenerate (needs PyPI; the virtualenv Tests/Fixtures/.venv is shared with
make-webhook-fixtures.sh and pins standardwebhooks==1.1.0), then commit the JSON:
    Tests/Fixtures/make-fulfilment-fixtures.sh
The cases use fixed timestamps, so a rerun writes the same file.

Before writing, every case is checked with the package's own `Webhook(secret).verify`, once per
secret alone, against the headers the receiver gets. That `verify` compares the timestamp with
`datetime.now()` (5 minutes either way) and takes no clock argument, so the check runs with the
package module's `datetime` replaced by one whose `now()` is the case's timestamp (see
`package_clock_at`). The script asserts the frozen clock is in force: the same headers are rejected
301 s later, and so is the body with one byte changed.
"""
import base64
import contextlib
import json
import os
import sys
from datetime import datetime, timezone

import standardwebhooks
import standardwebhooks.webhooks as sw_module

PACKAGE_VERSION = "1.1.0"
assert standardwebhooks.__version__ == PACKAGE_VERSION, f"expected standardwebhooks {PACKAGE_VERSION}, got {standardwebhooks.__version__}"

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fulfilment", "standard-webhooks-deliveries.json")


def whsec(label):
    """A deterministic 32-byte secret, spelt as the package and Tollgate configure it."""
    raw = (label.encode() * 32)[:32]
    return "whsec_" + base64.b64encode(raw).decode()


SECRET_A = whsec("tollgate-fulfilment-key-2026-a:")
SECRET_B = whsec("tollgate-fulfilment-key-2026-b:")
SECRET_OLD = whsec("tollgate-fulfilment-key-2025-x:")
SECRET_NEW = whsec("tollgate-fulfilment-key-2026-y:")


def utc(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def iso(ts):
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def package_clock_at(ts):
    """The package's `verify` reads `datetime.now(tz=timezone.utc)` from its own module; pin it."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(ts, tz=tz or timezone.utc)

    saved = sw_module.datetime
    sw_module.datetime = FrozenDatetime
    try:
        yield
    finally:
        sw_module.datetime = saved


def package_accepts(secret, body, headers, at):
    with package_clock_at(at):
        try:
            standardwebhooks.Webhook(secret).verify(body, headers)
            return True
        except standardwebhooks.WebhookVerificationError:
            return False


def message(event_type, ts, data):
    return {"type": event_type, "timestamp": iso(ts), "data": data}


def order(tenant, order_id, player_id, status, amount_minor, currency, refunded_minor, lines, provider, payment_id):
    return {
        "tenant": tenant,
        "order_id": order_id,
        "player_id": player_id,
        "status": status,
        "amount_minor": amount_minor,
        "currency": currency,
        "refunded_minor": refunded_minor,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "payment": {"provider": provider, "id": payment_id},
    }


def compact(value, ensure_ascii=False):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)


cases = []


def add(name, secrets, webhook_id, timestamp, body):
    signatures = [standardwebhooks.Webhook(s).sign(webhook_id, utc(timestamp), body) for s in secrets]
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}
    for secret in secrets:
        assert package_accepts(secret, body, headers, timestamp), f"{name}: package rejects its own headers"
        assert not package_accepts(secret, body, headers, timestamp + 301), f"{name}: frozen clock not in force"
        raw = body.encode()
        flipped = (raw[:-2] + bytes([raw[-2] ^ 0x01]) + raw[-1:]).decode()
        assert not package_accepts(secret, flipped, headers, timestamp), f"{name}: package accepts a changed body"
    assert not package_accepts(whsec("not-a-configured-secret-at-all:"), body, headers, timestamp), f"{name}: accepts a stranger"
    cases.append({"name": name, "secrets": secrets, "webhook_id": webhook_id, "timestamp": timestamp, "body": body,
                  "signatures": signatures})


T0 = 1795600800  # 2026-11-25T10:00:00Z

add("one secret: order.paid", [SECRET_A], "msg_2pYfTollgate0001", T0, compact(message("order.paid", T0, order(
    "acme-games", "ord_01JD7Q4ZKX3V9T2M8N5B6C4R1A", "player_48213", "paid", 1999, "USD", 0,
    [("gems_500", 1), ("booster_xp_2x", 3)], "stripe", "pi_3QxTollgateA1b2C3d4"))))

add("two secrets (rotation): old and new each sign", [SECRET_OLD, SECRET_NEW], "msg_2pYfTollgate0002", T0 + 60,
    compact(message("order.paid", T0 + 60, order(
        "acme-games", "ord_01JD7Q6B2W8E4R0T6Y2U4I6O8P", "player_90017", "paid", 4999, "EUR", 0,
        [("season_pass_s7", 1)], "adyen", "8815727131513275"))))

add("three secrets (rotation, one spare)", [SECRET_A, SECRET_B, SECRET_NEW], "msg_2pYfTollgate0003", T0 + 90,
    compact(message("order.paid", T0 + 90, order(
        "nordlicht-studio", "ord_01JD7Q7C3X9F5S1U7Z3V5J7P9Q", "player_3301", "paid", 299, "GBP", 0,
        [("emote_wave", 1)], "checkout", "pay_mbabizu24mvu3mela5njyhpit4"))))

add("non-ASCII player id (raw UTF-8 in the body)", [SECRET_A], "msg_2pYfTollgate0004", T0 + 120,
    compact(message("order.paid", T0 + 120, order(
        "nordlicht-studio", "ord_01JD7Q8D4Y0G6T2V8A4W6K8Q0R", "jörg-ü", "paid", 1299, "EUR", 0,
        [("skin_drache_gold", 1), ("coins_1000", 2)], "paddle", "txn_01hv8x2kq5t0tollgate"))))

# A sender that escapes slashes and all non-ASCII (PHP's json_encode default): the signature covers
# these escapes as sent, not the decoded text.
escaped = compact(message("order.paid", T0 + 180, order(
    "acme-games", "ord_01JD7Q9E5Z1H7U3W9B5X7L9R1S", "zoë/eu-west", "paid", 999, "EUR", 0,
    [("bundles/starter-pack", 1), ("pets/dragon-🐉", 1)], "xsolla", "inv_772301"
)), ensure_ascii=True).replace("/", "\\/")
assert "\\/" in escaped and "\\u00eb" in escaped and "\\ud83d\\udc09" in escaped
assert json.loads(escaped)["data"]["player_id"] == "zoë/eu-west"
add("escaped slashes and unicode escapes kept as sent", [SECRET_B], "msg_2pYfTollgate0005", T0 + 180, escaped)

add("revoke: order.refunded", [SECRET_OLD, SECRET_NEW], "msg_2pYfTollgate0006", T0 + 86400,
    compact(message("order.refunded", T0 + 86400, order(
        "acme-games", "ord_01JD7Q4ZKX3V9T2M8N5B6C4R1A", "player_48213", "refunded", 1999, "USD", 1999,
        [("gems_500", 1), ("booster_xp_2x", 3)], "stripe", "pi_3QxTollgateA1b2C3d4"))))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")
print(f"{OUT}: {len(cases)} cases (standardwebhooks {PACKAGE_VERSION})")
