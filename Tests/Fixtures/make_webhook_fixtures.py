"""Writes signed webhook vectors made with the providers' official SDKs.

Each file holds cases: the headers and raw body a provider would send, the secrets the source is
configured with, the clock (`now`, unix seconds) and the expected outcome: "ok" or a
VerificationFailure reason. Where an SDK can verify, its verdict at generation time is checked
against the expectation (`sdk_agrees`), except where Tollgate is deliberately stricter (noted).
"""
import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import sys
import time
from datetime import datetime, timezone

import stripe
import standardwebhooks
import svix
import Adyen.util as adyen_util
from paddle_billing.Notifications import Secret as PaddleSecret, Verifier as PaddleVerifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

OUT = sys.argv[1]
NOW = int(time.time())
cases_by_provider = {}


def add(provider, name, headers, body, secrets, expect, sdk=None, stricter=None, extra=None):
    case = {"name": name, "headers": headers, "body": body, "secrets": secrets, "expect": expect}
    if sdk is not None:
        # sdk: True when the official SDK accepts the request, False when it rejects it.
        sdk_ok = sdk()
        case["sdk_accepts"] = sdk_ok
        if stricter is None:
            assert sdk_ok == (expect == "ok"), f"{provider}/{name}: SDK says {sdk_ok}, we expect {expect}"
        else:
            case["stricter_than_sdk"] = stricter
    if extra:
        case.update(extra)
    cases_by_provider.setdefault(provider, []).append(case)


def accepts(fn):
    def run():
        try:
            result = fn()
            return result is not False
        except Exception:
            return False
    return run


# --- Stripe -------------------------------------------------------------------------------
S_OLD, S_NEW, S_WRONG = "whsec_old_7d9c1f0e2b", "whsec_new_4a8b2c6d1e", "whsec_attacker_000000"
stripe_body = json.dumps({
    "id": "evt_1QxTollgate", "object": "event", "type": "payment_intent.succeeded", "created": NOW,
    "data": {"object": {"id": "pi_3QxTollgate", "object": "payment_intent", "amount": 1999, "currency": "usd",
                        "metadata": {"order_id": "ord_0001"}}},
}, separators=(",", ":"))


def stripe_header(body, secret, t):
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=t)


def stripe_sdk(body, header, secret):
    return accepts(lambda: stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300))


h = stripe_header(stripe_body, S_NEW, NOW)
add("stripe", "valid", {"Stripe-Signature": h}, stripe_body, [S_NEW], "ok", stripe_sdk(stripe_body, h, S_NEW))
add("stripe", "rotated: old and new secret configured, signed with old", {"Stripe-Signature": stripe_header(stripe_body, S_OLD, NOW)},
    stripe_body, [S_NEW, S_OLD], "ok", stripe_sdk(stripe_body, stripe_header(stripe_body, S_OLD, NOW), S_OLD))
both = stripe_header(stripe_body, S_OLD, NOW) + ",v1=" + stripe.WebhookSignature._compute_signature(f"{NOW}.{stripe_body}", S_NEW)
add("stripe", "rotated: header carries one v1 per active secret", {"Stripe-Signature": both}, stripe_body, [S_NEW], "ok",
    stripe_sdk(stripe_body, both, S_NEW))
tampered = stripe_body.replace("1999", "1")
add("stripe", "tampered body", {"Stripe-Signature": h}, tampered, [S_NEW], "signature_mismatch", stripe_sdk(tampered, h, S_NEW))
hw = stripe_header(stripe_body, S_WRONG, NOW)
add("stripe", "wrong secret", {"Stripe-Signature": hw}, stripe_body, [S_NEW], "signature_mismatch", stripe_sdk(stripe_body, hw, S_NEW))
he = stripe_header(stripe_body, S_NEW, NOW - 301)
add("stripe", "expired timestamp", {"Stripe-Signature": he}, stripe_body, [S_NEW], "timestamp_too_old", stripe_sdk(stripe_body, he, S_NEW))
hf = stripe_header(stripe_body, S_NEW, NOW + 301)
add("stripe", "future timestamp", {"Stripe-Signature": hf}, stripe_body, [S_NEW], "timestamp_in_future",
    stripe_sdk(stripe_body, hf, S_NEW), stricter="the SDK only rejects old timestamps")
v0 = f"t={NOW},v0=" + stripe.WebhookSignature._compute_signature(f"{NOW}.{stripe_body}", S_NEW)
add("stripe", "v0 only", {"Stripe-Signature": v0}, stripe_body, [S_NEW], "no_signature", stripe_sdk(stripe_body, v0, S_NEW))
add("stripe", "missing header", {}, stripe_body, [S_NEW], "missing_header")
sig = stripe.WebhookSignature._compute_signature(f"{NOW}.{stripe_body}", S_NEW)
add("stripe", "no timestamp", {"Stripe-Signature": f"v1={sig}"}, stripe_body, [S_NEW], "malformed_header", stripe_sdk(stripe_body, f"v1={sig}", S_NEW))
add("stripe", "non-numeric timestamp", {"Stripe-Signature": f"t=12ab,v1={sig}"}, stripe_body, [S_NEW], "malformed_header",
    stripe_sdk(stripe_body, f"t=12ab,v1={sig}", S_NEW))
add("stripe", "part without equals", {"Stripe-Signature": f"t={NOW},v1{sig}"}, stripe_body, [S_NEW], "malformed_header")
add("stripe", "empty header", {"Stripe-Signature": ""}, stripe_body, [S_NEW], "malformed_header")
add("stripe", "v1 not hex", {"Stripe-Signature": f"t={NOW},v1=zz{sig[2:]}"}, stripe_body, [S_NEW], "no_signature")
add("stripe", "truncated signature", {"Stripe-Signature": f"t={NOW},v1={sig[:-2]}"}, stripe_body, [S_NEW], "no_signature")
add("stripe", "duplicate timestamp", {"Stripe-Signature": f"t={NOW},t={NOW - 1000},v1={sig}"}, stripe_body, [S_NEW], "malformed_header")

# --- Standard Webhooks and Svix -----------------------------------------------------------
SW_SECRET = "whsec_" + base64.b64encode(b"tollgate-standard-webhooks-key-1").decode()
SW_OLD = "whsec_" + base64.b64encode(b"tollgate-standard-webhooks-key-0").decode()
SW_WRONG = "whsec_" + base64.b64encode(b"attacker-attacker-attacker-key!!").decode()
sw_body = json.dumps({"type": "payment.succeeded", "data": {"order_id": "ord_0002", "payment_id": "pay_77", "amount": 499, "currency": "EUR"}},
                     separators=(",", ":"))
MSG = "msg_2Lz7kTollgate"


def sw_sign(secret, msg_id, ts, body, lib=standardwebhooks):
    return lib.Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)


def sw_headers(msg_id, ts, sig, prefix="webhook"):
    return {f"{prefix}-id": msg_id, f"{prefix}-timestamp": str(ts), f"{prefix}-signature": sig}


def sw_sdk(secret, body, headers, lib=standardwebhooks):
    return accepts(lambda: lib.Webhook(secret).verify(body, headers))


s = sw_sign(SW_SECRET, MSG, NOW, sw_body)
hd = sw_headers(MSG, NOW, s)
add("standard-webhooks", "valid v1", hd, sw_body, [SW_SECRET], "ok", sw_sdk(SW_SECRET, sw_body, hd))
sv = sw_sign(SW_SECRET, MSG, NOW, sw_body, lib=svix)
hsv = sw_headers(MSG, NOW, sv, prefix="svix")
add("standard-webhooks", "valid v1 with svix headers", hsv, sw_body, [SW_SECRET], "ok", sw_sdk(SW_SECRET, sw_body, hsv, lib=svix))
so = sw_sign(SW_OLD, MSG, NOW, sw_body)
add("standard-webhooks", "rotated: signed with old secret, both configured", sw_headers(MSG, NOW, so), sw_body, [SW_SECRET, SW_OLD], "ok",
    sw_sdk(SW_OLD, sw_body, sw_headers(MSG, NOW, so)))
multi = so + " " + s
add("standard-webhooks", "rotated: several signatures in one header", sw_headers(MSG, NOW, multi), sw_body, [SW_SECRET], "ok",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW, multi)))
add("standard-webhooks", "tampered body", hd, sw_body.replace("499", "4"), [SW_SECRET], "signature_mismatch",
    sw_sdk(SW_SECRET, sw_body.replace("499", "4"), hd))
add("standard-webhooks", "tampered id", sw_headers("msg_other", NOW, s), sw_body, [SW_SECRET], "signature_mismatch",
    sw_sdk(SW_SECRET, sw_body, sw_headers("msg_other", NOW, s)))
sw_ = sw_sign(SW_WRONG, MSG, NOW, sw_body)
add("standard-webhooks", "wrong secret", sw_headers(MSG, NOW, sw_), sw_body, [SW_SECRET], "signature_mismatch",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW, sw_)))
se = sw_sign(SW_SECRET, MSG, NOW - 301, sw_body)
add("standard-webhooks", "expired timestamp", sw_headers(MSG, NOW - 301, se), sw_body, [SW_SECRET], "timestamp_too_old",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW - 301, se)))
sf = sw_sign(SW_SECRET, MSG, NOW + 301, sw_body)
add("standard-webhooks", "future timestamp", sw_headers(MSG, NOW + 301, sf), sw_body, [SW_SECRET], "timestamp_in_future",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW + 301, sf)))
nopad = SW_SECRET.rstrip("=")
add("standard-webhooks", "secret configured without base64 padding", hd, sw_body, [nopad], "ok", sw_sdk(nopad, sw_body, hd))
add("standard-webhooks", "missing id header", {k: v for k, v in hd.items() if k != "webhook-id"}, sw_body, [SW_SECRET], "missing_header",
    sw_sdk(SW_SECRET, sw_body, {k: v for k, v in hd.items() if k != "webhook-id"}))
add("standard-webhooks", "missing signature header", {k: v for k, v in hd.items() if k != "webhook-signature"}, sw_body, [SW_SECRET], "missing_header")
add("standard-webhooks", "non-numeric timestamp", sw_headers(MSG, "soon", s), sw_body, [SW_SECRET], "malformed_header",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, "soon", s)))
add("standard-webhooks", "signature entry without version", sw_headers(MSG, NOW, s.split(",", 1)[1]), sw_body, [SW_SECRET], "malformed_header",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW, s.split(",", 1)[1])))
add("standard-webhooks", "only unknown versions", sw_headers(MSG, NOW, "v2," + s.split(",", 1)[1]), sw_body, [SW_SECRET], "no_signature",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW, "v2," + s.split(",", 1)[1])))
add("standard-webhooks", "truncated signature", sw_headers(MSG, NOW, s[:-4]), sw_body, [SW_SECRET], "signature_mismatch",
    sw_sdk(SW_SECRET, sw_body, sw_headers(MSG, NOW, s[:-4])))

# v1a: Ed25519. The Python SDKs skip v1a, so these are made with cryptography directly.
seed = hashlib.sha256(b"tollgate-v1a-test-key").digest()
private = Ed25519PrivateKey.from_private_bytes(seed)
public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
WHPK = "whpk_" + base64.b64encode(public_raw).decode()
other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"attacker").digest())
to_sign = f"{MSG}.{NOW}.{sw_body}".encode()
v1a = "v1a," + base64.b64encode(private.sign(to_sign)).decode()
add("standard-webhooks", "valid v1a (Ed25519)", sw_headers(MSG, NOW, v1a), sw_body, [WHPK], "ok")
add("standard-webhooks", "v1a tampered body", sw_headers(MSG, NOW, v1a), sw_body.replace("EUR", "USD"), [WHPK], "signature_mismatch")
v1a_wrong = "v1a," + base64.b64encode(other.sign(to_sign)).decode()
add("standard-webhooks", "v1a signed by another key", sw_headers(MSG, NOW, v1a_wrong), sw_body, [WHPK], "signature_mismatch")
add("standard-webhooks", "v1a and v1 mixed, v1 matches", sw_headers(MSG, NOW, v1a_wrong + " " + s), sw_body, [WHPK, SW_SECRET], "ok")
add("standard-webhooks", "v1 signature but only a v1a key configured", hd, sw_body, [WHPK], "signature_mismatch")

# --- Adyen --------------------------------------------------------------------------------
A_KEY = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"
A_WRONG = "00" * 32


def adyen_item(psp, ref, value, event="AUTHORISATION", success="true", key=A_KEY):
    item = {"pspReference": psp, "originalReference": "", "merchantAccountCode": "TestMerchant", "merchantReference": ref,
            "amount": {"value": value, "currency": "EUR"}, "eventCode": event, "success": success,
            "eventDate": "2026-11-25T10:00:00+01:00", "paymentMethod": "visa"}
    unsigned = {k: v for k, v in item.items() if k != "originalReference"}
    item["additionalData"] = {"hmacSignature": adyen_util.generate_notification_sig(unsigned, key).decode()}
    return item


def adyen_body(items):
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}, separators=(",", ":"))


def adyen_sdk(body, key):
    return accepts(lambda: adyen_util.is_valid_hmac_notification(json.loads(body), key))


known = adyen_item("7914073381342284", "TestPayment-1407325143704", 1130)
assert known["additionalData"]["hmacSignature"] == "Ny9gS2veKo5E4w8/OL6xz1/wvT/hYkAXy1xNc/QvO4I=", "Adyen known answer"
b = adyen_body([known])
add("adyen", "valid (Adyen's known answer)", {}, b, [A_KEY], "ok", adyen_sdk(b, A_KEY))
b2 = adyen_body([known, adyen_item("8814073381342285", "ord_0003", 2500)])
add("adyen", "valid batch of two", {}, b2, [A_KEY], "ok", adyen_sdk(b2, A_KEY))
bad_second = adyen_item("8814073381342285", "ord_0003", 2500)
bad_second["amount"]["value"] = 1
b3 = adyen_body([known, bad_second])
add("adyen", "second item tampered", {}, b3, [A_KEY], "signature_mismatch", adyen_sdk(b3, A_KEY),
    stricter="the SDK helper checks only the first item")
tam = copy.deepcopy(known)
tam["amount"]["value"] = 1
b4 = adyen_body([tam])
add("adyen", "tampered amount", {}, b4, [A_KEY], "signature_mismatch", adyen_sdk(b4, A_KEY))
add("adyen", "wrong key", {}, b, [A_WRONG], "signature_mismatch", adyen_sdk(b, A_WRONG))
add("adyen", "rotated: old and new key configured", {}, b, [A_WRONG, A_KEY], "ok")
nosig = copy.deepcopy(known)
del nosig["additionalData"]
add("adyen", "item without hmacSignature", {}, adyen_body([nosig]), [A_KEY], "no_signature")
add("adyen", "body is not JSON", {}, "notificationItems=1", [A_KEY], "malformed_body")
add("adyen", "no items", {}, json.dumps({"live": "false", "notificationItems": []}), [A_KEY], "malformed_body")
platform = json.dumps({"type": "balancePlatform.transfer.updated", "data": {"id": "tr_1", "reference": "ord_0004"}}, separators=(",", ":"))
psig = adyen_util.generate_payload_sig(platform.encode(), A_KEY).decode()
add("adyen", "HmacSignature header over raw body", {"HmacSignature": psig}, platform, [A_KEY], "ok",
    accepts(lambda: adyen_util.is_valid_hmac_payload(psig, A_KEY, platform.encode())))
add("adyen", "HmacSignature header, tampered body", {"HmacSignature": psig}, platform.replace("ord_0004", "ord_9999"), [A_KEY],
    "signature_mismatch", accepts(lambda: adyen_util.is_valid_hmac_payload(psig, A_KEY, platform.replace("ord_0004", "ord_9999").encode())))

# --- Paddle Billing -----------------------------------------------------------------------
P_SECRET, P_OLD, P_WRONG = "pdl_ntfset_01hxtollgate_new", "pdl_ntfset_01hxtollgate_old", "pdl_ntfset_attacker"
p_body = json.dumps({"event_id": "evt_01hvtollgate", "event_type": "transaction.completed", "occurred_at": "2026-11-25T10:00:00Z",
                     "data": {"id": "txn_01", "custom_data": {"order_id": "ord_0005"},
                              "details": {"totals": {"grand_total": "1500", "currency_code": "USD"}}}}, separators=(",", ":"))


def paddle_h1(secret, ts, body):
    return hmac.new(secret.encode(), f"{ts}:{body}".encode(), hashlib.sha256).hexdigest()


class PaddleRequest:
    def __init__(self, headers, body):
        self.headers = headers
        self.body = body.encode()


def paddle_sdk(headers, body, secrets):
    return accepts(lambda: PaddleVerifier().verify(PaddleRequest(headers, body), [PaddleSecret(s) for s in secrets]))


ph = {"Paddle-Signature": f"ts={NOW};h1={paddle_h1(P_SECRET, NOW, p_body)}"}
add("paddle", "valid", ph, p_body, [P_SECRET], "ok", paddle_sdk(ph, p_body, [P_SECRET]))
pr = {"Paddle-Signature": f"ts={NOW};h1={paddle_h1(P_OLD, NOW, p_body)};h1={paddle_h1(P_SECRET, NOW, p_body)}"}
add("paddle", "rotated: two h1 in one header", pr, p_body, [P_SECRET], "ok", paddle_sdk(pr, p_body, [P_SECRET]))
po = {"Paddle-Signature": f"ts={NOW};h1={paddle_h1(P_OLD, NOW, p_body)}"}
add("paddle", "rotated: old and new secret configured", po, p_body, [P_SECRET, P_OLD], "ok", paddle_sdk(po, p_body, [P_SECRET, P_OLD]))
add("paddle", "tampered body", ph, p_body.replace("1500", "15"), [P_SECRET], "signature_mismatch", paddle_sdk(ph, p_body.replace("1500", "15"), [P_SECRET]))
pw = {"Paddle-Signature": f"ts={NOW};h1={paddle_h1(P_WRONG, NOW, p_body)}"}
add("paddle", "wrong secret", pw, p_body, [P_SECRET], "signature_mismatch", paddle_sdk(pw, p_body, [P_SECRET]))
pe = {"Paddle-Signature": f"ts={NOW - 6};h1={paddle_h1(P_SECRET, NOW - 6, p_body)}"}
add("paddle", "expired timestamp", pe, p_body, [P_SECRET], "timestamp_too_old", paddle_sdk(pe, p_body, [P_SECRET]))
pf = {"Paddle-Signature": f"ts={NOW + 6};h1={paddle_h1(P_SECRET, NOW + 6, p_body)}"}
add("paddle", "future timestamp", pf, p_body, [P_SECRET], "timestamp_in_future", paddle_sdk(pf, p_body, [P_SECRET]))
add("paddle", "missing header", {}, p_body, [P_SECRET], "missing_header", paddle_sdk({}, p_body, [P_SECRET]))
add("paddle", "no ts", {"Paddle-Signature": f"h1={paddle_h1(P_SECRET, NOW, p_body)}"}, p_body, [P_SECRET], "malformed_header")
# PROVIDERS.md: ignore unknown keys (the SDK's parser rejects them, so no SDK verdict here).
add("paddle", "unknown keys are ignored", {"Paddle-Signature": f"ts={NOW};h2=abc;h1={paddle_h1(P_SECRET, NOW, p_body)}"}, p_body, [P_SECRET], "ok")
add("paddle", "no h1", {"Paddle-Signature": f"ts={NOW}"}, p_body, [P_SECRET], "no_signature")

# --- Xsolla (no official Python SDK: signature per Xsolla's webhook documentation) ----------
X_SECRET, X_WRONG = "xsolla-project-secret-key", "attacker-secret"
x_body = json.dumps({"notification_type": "payment", "transaction": {"id": 87654321, "external_id": "ord_0006", "payment_date": "2026-11-25T10:00:00+00:00"},
                     "purchase": {"total": {"currency": "USD", "amount": 9.99}}}, separators=(",", ":"))


def xsig(body, secret):
    return hashlib.sha1(body.encode() + secret.encode()).hexdigest()


add("xsolla", "valid", {"Authorization": f"Signature {xsig(x_body, X_SECRET)}"}, x_body, [X_SECRET], "ok")
add("xsolla", "rotated: old and new secret configured", {"Authorization": f"Signature {xsig(x_body, X_SECRET)}"}, x_body, [X_WRONG, X_SECRET], "ok")
add("xsolla", "tampered body", {"Authorization": f"Signature {xsig(x_body, X_SECRET)}"}, x_body.replace("9.99", "0.01"), [X_SECRET], "signature_mismatch")
add("xsolla", "wrong secret", {"Authorization": f"Signature {xsig(x_body, X_WRONG)}"}, x_body, [X_SECRET], "signature_mismatch")
add("xsolla", "missing header", {}, x_body, [X_SECRET], "missing_header")
add("xsolla", "wrong scheme word", {"Authorization": f"Bearer {xsig(x_body, X_SECRET)}"}, x_body, [X_SECRET], "malformed_header")
add("xsolla", "truncated digest", {"Authorization": f"Signature {xsig(x_body, X_SECRET)[:-2]}"}, x_body, [X_SECRET], "malformed_header")

# --- Checkout.com (HMAC-SHA256 of the raw body, per Checkout.com's webhook documentation) ----
C_KEY, C_WRONG = "cko-signature-key-5f2e", "attacker-key"
c_body = json.dumps({"id": "evt_az5sblvku4ge3dwpztvyizgcau", "type": "payment_captured", "created_on": "2026-11-25T10:00:00Z",
                     "data": {"id": "pay_mbabizu24mvu3mela5njyhpit4", "reference": "ord_0007", "amount": 6540, "currency": "GBP"}},
                    separators=(",", ":"))


def csig(body, key):
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


add("checkout", "valid", {"Cko-Signature": csig(c_body, C_KEY)}, c_body, [C_KEY], "ok")
add("checkout", "rotated: old and new key configured", {"Cko-Signature": csig(c_body, C_KEY)}, c_body, [C_WRONG, C_KEY], "ok")
add("checkout", "tampered body", {"Cko-Signature": csig(c_body, C_KEY)}, c_body.replace("6540", "1"), [C_KEY], "signature_mismatch")
add("checkout", "wrong key", {"Cko-Signature": csig(c_body, C_WRONG)}, c_body, [C_KEY], "signature_mismatch")
add("checkout", "missing header", {}, c_body, [C_KEY], "missing_header")
add("checkout", "not hex", {"Cko-Signature": "not-a-signature"}, c_body, [C_KEY], "malformed_header")

os.makedirs(OUT, exist_ok=True)
versions = {"stripe": stripe.VERSION, "standardwebhooks": "1.1.0", "svix": "2.9.1", "Adyen": "16.0.0", "paddle-python-sdk": "1.16.1"}
for provider, cases in cases_by_provider.items():
    with open(os.path.join(OUT, f"{provider}.json"), "w") as f:
        json.dump({"provider": provider, "now": NOW, "sdk_versions": versions, "cases": cases}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{provider}: {len(cases)} cases")
