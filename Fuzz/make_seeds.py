#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into Fuzz/corpus/<target>/ from the repository's
own fixtures: the SDK-signed webhook vectors (Tests/Fixtures/webhooks), the providers' real
payloads (Tests/Fixtures/provider-payloads), rules/, catalog/, config/tenants/, and a few RESP
replies and player tokens made here. Input layouts are described in Sources/TollgateFuzzTargets.

    python3 Fuzz/make_seeds.py        (scripts/fuzz.sh seeds)

It also writes Fuzz/dictionaries/<target>.dict: the string literals of the code each target
exercises (JSON keys, YAML keys, header names), which libFuzzer splices into its mutations.
Seed files are named seed-*; files libFuzzer adds when merging (scripts/fuzz.sh merge) are named
by their SHA-1 and are kept. Needs only the standard library and `cryptography` (ES256 tokens).
"""
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
PROVIDERS = ["stripe", "standard-webhooks", "adyen", "paddle", "xsolla", "checkout"]
APPLE = os.path.join(ROOT, "Tests", "Fixtures", "provider-payloads", "apple")


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + slug(name)), "wb") as out:
        out.write(data)


def clear_seeds():
    for path in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
        os.remove(path)


def webhook_cases(provider):
    with open(os.path.join(ROOT, "Tests", "Fixtures", "webhooks", provider + ".json")) as source:
        return json.load(source)["cases"]


def payloads(provider):
    folder = os.path.join(ROOT, "Tests", "Fixtures", "provider-payloads", provider)
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path, "rb") as source:
            yield os.path.basename(path), source.read()


def signatures():
    # Mode byte 0: headers, a blank line, the body, as the SDK vector sent them.
    # Mode byte 1 (3: Checkout.com with its Authorization value): a body the target signs itself.
    for provider in PROVIDERS:
        target = "verify-" + provider
        for case in webhook_cases(provider):
            head = "".join(f"{name}: {value}\n" for name, value in case["headers"].items())
            write(target, "raw-" + case["name"], b"\x00" + head.encode() + b"\n" + case["body"].encode())
        bodies = {case["body"] for case in webhook_cases(provider)}
        for index, body in enumerate(sorted(bodies)):
            write(target, f"signed-{index}", b"\x01" + body.encode())
            if provider == "checkout":
                write(target, f"signed-authorization-{index}", b"\x03" + body.encode())


def apple_signatures():
    # Apple has no SDK vectors: its own test samples (signed under testCA.der, which the target
    # trusts) in the envelope the App Store posts, raw; and decoded notifications for the target
    # to sign with its development chain.
    target = "verify-apple"
    head = "Content-Type: application/json\n\n"
    for name in ["TEST.signedPayload.jws.txt", "test-wrongBundleId.jws.txt", "test-missingX5CHeaderClaim.jws.txt"]:
        with open(os.path.join(APPLE, name)) as source:
            jws = source.read().strip()
        write(target, "raw-" + name, b"\x00" + (head + json.dumps({"signedPayload": jws})).encode())
    for body in apple_notifications():
        write(target, "signed-" + hashlib.sha1(body).hexdigest()[:12], b"\x01" + body)


def apple_notifications():
    """Decoded notifications shaped as Apple's samples, the transaction as a JSON object (signed in place)."""
    with open(os.path.join(APPLE, "SUBSCRIBED.INITIAL_BUY.decoded.json")) as source:
        notification = json.load(source)
    with open(os.path.join(APPLE, "signedTransaction.revoked.decoded.json")) as source:
        transaction = json.load(source)
    bodies = []
    for kind, share in [("ONE_TIME_CHARGE", None), ("REFUND", 25000), ("REFUND_REVERSED", 100000), ("CONSUMPTION_REQUEST", None)]:
        item = dict(transaction, appAccountToken="7e3fb20b-4cdb-47cc-936d-99d65f608138", bundleId="com.example", environment="Sandbox")
        if share is not None:
            item["revocationPercentage"] = share
        data = dict(notification["data"], bundleId="com.example", environment="Sandbox", signedTransactionInfo=item)
        data.pop("signedRenewalInfo", None)
        bodies.append(json.dumps(dict(notification, notificationType=kind, data=data), sort_keys=True).encode())
    return bodies


def certificate_callbacks():
    # verify-google-push: raw Authorization values (tokens under keys the harness does not
    # publish, so they parse and then fail) and claims for the harness to sign.
    audience, email = "https://tollgate.example/v1/webhooks/fuzz/play", "rtdn@fuzz-project.iam.gserviceaccount.com"
    claims = {"iss": "https://accounts.google.com", "aud": audience, "email": email, "email_verified": True,
              "exp": 1780003600, "iat": 1780000000, "sub": "112233445566778899000"}
    header = b64url(json.dumps({"alg": "RS256", "kid": "fuzz", "typ": "JWT"}).encode())
    token = header + "." + b64url(json.dumps(claims).encode()) + "." + b64url(hashlib.sha256(b"not google").digest() * 8)
    write("verify-google-push", "raw-bearer", b"\x00Bearer " + token.encode())
    write("verify-google-push", "raw-unknown-kid", b"\x00Bearer " + token.replace(header, b64url(b'{"alg":"RS256","kid":"other"}')).encode())
    write("verify-google-push", "raw-hs256", b"\x00Bearer " + token.replace(header, b64url(b'{"alg":"HS256","kid":"fuzz"}')).encode())
    write("verify-google-push", "signed-valid", b"\x01" + json.dumps(claims).encode())
    write("verify-google-push", "signed-wrong-audience", b"\x01" + json.dumps(dict(claims, aud="https://other.example")).encode())
    write("verify-google-push", "signed-expired", b"\x01" + json.dumps(dict(claims, exp=1779990000)).encode())
    write("verify-google-push", "signed-unverified", b"\x01" + json.dumps(dict(claims, email_verified=False)).encode())
    # verify-paypal: a request as PayPal sends it (its signature under a key the harness does not
    # hold), and bodies for the harness to sign.
    body = json.dumps({"id": "WH-2WR32451HC0233532-67976317FL4543714", "event_type": "PAYMENT.CAPTURE.COMPLETED",
                       "resource": {"id": "42311647XV020574X", "custom_id": "ord_1", "amount": {"currency_code": "USD", "value": "19.99"}}})
    head = ("PAYPAL-TRANSMISSION-ID: 103e3700-8b0d-11e4-9191-a5f7e5d2b5e4\n"
            "PAYPAL-TRANSMISSION-TIME: 2026-05-28T20:26:40Z\n"
            "PAYPAL-TRANSMISSION-SIG: " + base64.b64encode(hashlib.sha256(b"not paypal").digest() * 8).decode() + "\n"
            "PAYPAL-CERT-URL: https://api.paypal.com/v1/notifications/certs/CERT-fuzz\n"
            "PAYPAL-AUTH-ALGO: SHA256withRSA\nContent-Type: application/json\n")
    write("verify-paypal", "raw-capture-completed", b"\x00" + (head + "\n" + body).encode())
    write("verify-paypal", "raw-foreign-cert-url", b"\x00" + (head.replace("api.paypal.com", "evil.example") + "\n" + body).encode())
    write("verify-paypal", "signed-capture-completed", b"\x01" + body.encode())
    write("verify-paypal", "signed-empty", b"\x01")


def unsigned_jws(payload):
    # The normalizer reads JWS the scheme verified: only the payload part matters to it.
    return b64url(b'{"alg":"ES256","x5c":[]}') + "." + b64url(payload) + "." + b64url(b"signature")


def apple_normalizer():
    target = "normalize-apple"
    with open(os.path.join(APPLE, "TEST.signedPayload.jws.txt")) as source:
        write(target, "TEST.signedPayload", json.dumps({"signedPayload": source.read().strip()}))
    for body in apple_notifications():
        notification = json.loads(body)
        notification["data"]["signedTransactionInfo"] = unsigned_jws(json.dumps(notification["data"]["signedTransactionInfo"]).encode())
        envelope = {"signedPayload": unsigned_jws(json.dumps(notification).encode())}
        write(target, notification["notificationType"], json.dumps(envelope))


def google_play_normalizer():
    """Google's documented push envelope as is, and with DeveloperNotifications of each type in `data`."""
    target = "normalize-google-play"
    path = os.path.join(ROOT, "Tests", "Fixtures", "provider-payloads", "google-play", "push.envelope.json")
    with open(path, "rb") as source:
        documented = source.read()
    write(target, "documented-envelope", documented)
    envelope = json.loads(documented)
    token = "opaque-token-up-to-150-characters.AO-J1OxKyg5x2Kl1"
    notifications = {
        "one-time-purchased": {"oneTimeProductNotification": {"version": "1.0", "notificationType": 1, "purchaseToken": token, "sku": "gems_100"}},
        "one-time-canceled": {"oneTimeProductNotification": {"version": "1.0", "notificationType": 2, "purchaseToken": token, "sku": "gems_100"}},
        "voided": {"voidedPurchaseNotification": {"purchaseToken": token, "orderId": "GPA.3333-4444-5555-66666", "productType": 2, "refundType": 1}},
        "subscription-renewed": {"subscriptionNotification": {"version": "1.0", "notificationType": 2, "purchaseToken": token, "subscriptionId": "monthly"}},
        "test": {"testNotification": {"version": "1.0"}},
    }
    for name, detail in notifications.items():
        notification = {"version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": "1503349566168", **detail}
        envelope["message"]["data"] = base64.b64encode(json.dumps(notification).encode()).decode()
        write(target, name, json.dumps(envelope))


def paypal_normalizer():
    """PayPal's documented REST webhook shapes (no public sample exists): each event type mapped."""
    target = "normalize-paypal"
    capture = "5O190127TN364715T"
    money = {"currency_code": "USD", "value": "19.99"}
    up = [{"href": "https://api.paypal.com/v2/payments/captures/" + capture, "rel": "up", "method": "GET"}]
    dispute = {"dispute_id": "PP-D-4012", "status": "OPEN", "dispute_amount": money, "disputed_transactions": [{"seller_transaction_id": capture}]}
    events = {
        "capture-completed": ("PAYMENT.CAPTURE.COMPLETED", "capture", {"id": capture, "status": "COMPLETED", "amount": money, "custom_id": "ord_1", "final_capture": True}),
        "capture-denied": ("PAYMENT.CAPTURE.DENIED", "capture", {"id": capture, "status": "DECLINED", "amount": money, "custom_id": "ord_1"}),
        "capture-refunded": ("PAYMENT.CAPTURE.REFUNDED", "refund", {"id": "1JU08902781691411", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "5.00"}, "links": up}),
        "capture-reversed": ("PAYMENT.CAPTURE.REVERSED", "refund", {"id": "8MC585209K746392H", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "-19.99"}, "links": up}),
        "dispute-created": ("CUSTOMER.DISPUTE.CREATED", "dispute", dispute),
        "dispute-resolved": ("CUSTOMER.DISPUTE.RESOLVED", "dispute", {**dispute, "status": "RESOLVED", "dispute_outcome": {"outcome_code": "RESOLVED_BUYER_FAVOUR"}}),
        "dispute-updated": ("CUSTOMER.DISPUTE.UPDATED", "dispute", dispute),
    }
    for name, (event_type, resource_type, resource) in events.items():
        write(target, name, json.dumps({"id": "WH-" + name, "event_version": "1.0", "create_time": "2026-11-25T10:00:00Z",
                                        "resource_type": resource_type, "event_type": event_type, "summary": event_type, "resource": resource}))


def normalizers():
    for provider in PROVIDERS:
        target = "normalize-" + provider
        for name, body in payloads(provider):
            # A whole event list (Paddle's, 99 kB) is no callback, and would only slow every run.
            if len(body) <= 16384:
                write(target, name, body)
        for case in webhook_cases(provider):
            write(target, "webhook-" + case["name"], case["body"])


def files():
    for target, pattern in [("rules-file", "rules/*.yaml"), ("catalog-file", "catalog/*.yaml"), ("tenant-file", "config/tenants/*.yaml")]:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, "rb") as source:
                write(target, os.path.basename(path), source.read())
    # The tenant loader's secret references, resolved from the target's fixed environment.
    write("tenant-file", "env-references.yaml", """tenant: fuzz
sources:
  stripe:
    provider: stripe
    secrets: [env:DEMO_STRIPE_WHSEC, env:DEMO_STRIPE_WHSEC_OLD]
    tolerance: 300s
    account: acct_main
  adyen:
    provider: adyen
    secrets: [env:DEMO_ADYEN_HMAC]
""")


def resp():
    # First byte: where the target cuts the rest in two reads.
    replies = {
        "every-type": b"+OK\r\n-WRONGTYPE Operation against a key\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n",
        "nested": b"*3\r\n$3\r\nfoo\r\n:-7\r\n*2\r\n+nested\r\n*1\r\n-ERR inner\r\n",
        "noscript": b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
        "limiter-reply": b"*4\r\n:1\r\n:0\r\n*2\r\n:1000\r\n:250\r\n$7\r\nrule-id\r\n",
        "claim": b"$4\r\ndone\r\n$-1\r\n+OK\r\n",
        "resp3-types": b",3.14\r\n_\r\n#t\r\n%1\r\n+k\r\n:1\r\n~1\r\n:2\r\n>2\r\n+message\r\n$1\r\nx\r\n",
    }
    for index, (name, wire) in enumerate(replies.items()):
        write("resp-reader", name, bytes([7 * index + 3]) + wire)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def player_tokens():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    secret = b"fuzz-player-token-key-0123456789abcdef"
    # The ES256 key of PlayerTokenTarget, derived here so no private key is committed.
    scalar = int.from_bytes(hashlib.sha256(b"tollgate fuzz es256 key").digest(), "big")
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    claims = {
        "valid": {"sub": "player-1", "aud": "fuzz", "exp": 4102444800, "country": "DE"},
        "audience-list": {"sub": "player-1", "aud": ["other", "fuzz"], "exp": 4102444800, "nbf": 1700000000},
        "expired": {"sub": "player-1", "aud": "fuzz", "exp": 1700000000},
        "not-yet-valid": {"sub": "player-1", "aud": "fuzz", "exp": 4102444800, "nbf": 4000000000},
        "other-tenant": {"sub": "player-1", "aud": "demo", "exp": 4102444800},
        "other-player": {"sub": "player-2", "aud": "fuzz", "exp": 4102444800},
    }
    for name, payload in claims.items():
        body = json.dumps(payload, separators=(",", ":")).encode()
        header = json.dumps({"alg": "HS256", "kid": "fuzz-hs256", "typ": "JWT"}, separators=(",", ":")).encode()
        signing = f"{b64url(header)}.{b64url(body)}"
        mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
        write("player-token", "raw-hs256-" + name, b"\x00" + f"{signing}.{b64url(mac)}".encode())
        write("player-token", "signed-" + name, b"\x01" + header + b"\n" + body)
        es_header = json.dumps({"alg": "ES256", "kid": "fuzz-es256", "typ": "JWT"}, separators=(",", ":")).encode()
        es_signing = f"{b64url(es_header)}.{b64url(body)}"
        r, s = decode_dss_signature(private.sign(es_signing.encode(), ec.ECDSA(hashes.SHA256())))
        write("player-token", "raw-es256-" + name, b"\x00" + f"{es_signing}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}".encode())
    unknown = b64url(b'{"alg":"HS256","kid":"nope"}') + "." + b64url(b"{}") + ".AAAA"
    write("player-token", "raw-unknown-kid", b"\x00" + unknown.encode())
    write("player-token", "signed-alg-none", b"\x01" + b'{"alg":"none","kid":"fuzz-hs256"}\n{"sub":"player-1","aud":"fuzz","exp":4102444800}')


DICTIONARY_SOURCES = {
    **{"verify-" + p: ["Sources/TollgateSignatures/" + name + "SignatureScheme.swift"] for p, name in
       [("stripe", "Stripe"), ("standard-webhooks", "StandardWebhooks"), ("adyen", "Adyen"), ("paddle", "Paddle"),
        ("xsolla", "Xsolla"), ("checkout", "Checkout"), ("apple", "Apple")]},
    **{"normalize-" + p: ["Sources/TollgateOrders/Normalizers/PaymentEventNormalizer+" + name + ".swift"] for p, name in
       [("stripe", "Stripe"), ("standard-webhooks", "StandardWebhooks"), ("adyen", "Adyen"), ("paddle", "Paddle"),
        ("xsolla", "Xsolla"), ("checkout", "Checkout"), ("apple", "Apple")]},
    "verify-google-push": ["Sources/TollgateSignatures/GooglePushTokenVerifier.swift"],
    "normalize-paypal": ["Sources/TollgateOrders/Normalizers/PaymentEventNormalizer+PayPal.swift"],
    "normalize-google-play": ["Sources/TollgateOrders/Normalizers/PaymentEventNormalizer+GooglePlay.swift", "Sources/TollgateCore/GooglePlayPush.swift"],
    "verify-paypal": ["Sources/TollgateSignatures/PayPalSignatureVerifier.swift"],
    "rules-file": ["Sources/TollgateRateLimits/RulesFileParser.swift", "Sources/TollgateCore/SettingParser.swift"],
    "catalog-file": ["Sources/TollgateCatalog/CatalogFileParser.swift"],
    "tenant-file": ["Sources/TollgateConfig/TenantCatalog.swift", "Sources/TollgateConfig/SecretReference.swift",
                    "Sources/TollgateCore/SettingParser.swift"],
    "player-token": ["Sources/TollgateCheckout/PlayerTokenVerifier.swift"],
    "delivery-answer": ["Sources/TollgateFulfilment/DeliveryVerdict.swift"],
}


def delivery_answers():
    """A game's answers to a delivery: type byte (0 order.paid, 3 order.refunded), status (2 bytes), headers, body."""
    def answer(event, status, head, body):
        return bytes([event, status >> 8, status & 0xFF]) + head.encode() + b"\n\n" + body.encode()
    cases = {
        "delivered": (0, 200, "Content-Type: application/json", '{"webhook_id":"msg_1","outcome":"applied"}'),
        "no-content": (3, 204, "Content-Length: 0", ""),
        "gone": (0, 410, "Content-Type: text/plain", "gone"),
        "declined": (0, 422, "Content-Type: application/json", '{"decline":{"reason":"player_banned"}}'),
        "declined-403": (1, 403, "Content-Type: application/json", '{"decline":{"reason":"item retired"}}'),
        "refund-422": (3, 422, "Content-Type: application/json", '{"decline":{"reason":"no"}}'),
        "throttled-seconds": (0, 429, "Retry-After: 7", ""),
        "throttled-date": (0, 503, "Retry-After: Sun, 06 Nov 2026 08:49:37 GMT", ""),
        "server-error": (4, 500, "Content-Type: application/problem+json", '{"type":"about:blank","status":500}'),
        "redirect": (0, 301, "Location: https://elsewhere.example/", ""),
    }
    for name, (event, status, head, body) in cases.items():
        write("delivery-answer", name, answer(event, status, head, body))


def dictionaries():
    folder = os.path.join(ROOT, "Fuzz", "dictionaries")
    os.makedirs(folder, exist_ok=True)
    for target, sources in DICTIONARY_SOURCES.items():
        words = set()
        for source in sources:
            path = os.path.join(ROOT, source)
            if not os.path.exists(path):
                continue
            with open(path) as text:
                for literal in re.findall(r'"([^"\\\n]{2,40})"', text.read()):
                    if "\\(" not in literal and all(32 <= ord(c) < 127 for c in literal):
                        words.add(literal)
        with open(os.path.join(folder, target + ".dict"), "w") as out:
            out.write(f"# String literals of {', '.join(sources)} (Fuzz/make_seeds.py).\n")
            for word in sorted(words):
                out.write('"' + word + '"\n')


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--public-key":
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives import serialization
        scalar = int.from_bytes(hashlib.sha256(b"tollgate fuzz es256 key").digest(), "big")
        key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
        print(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
        sys.exit(0)
    clear_seeds()
    signatures()
    apple_signatures()
    normalizers()
    apple_normalizer()
    google_play_normalizer()
    paypal_normalizer()
    certificate_callbacks()
    files()
    resp()
    delivery_answers()
    player_tokens()
    dictionaries()
