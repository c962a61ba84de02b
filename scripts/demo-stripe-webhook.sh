#!/usr/bin/env bash
# With `make run` serving: seeds an order for tenant demo, sends it a payment_intent.succeeded
# signed by Stripe's official Python SDK, resends it, then sends it with a forged signature.
#   scripts/demo-stripe-webhook.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/Tests/Fixtures/.venv"
[[ -x "$venv/bin/python" ]] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q "stripe==16.1.0"; }
export TOLLGATE_POSTGRES_URL="${TOLLGATE_POSTGRES_URL:-postgres://tollgate@127.0.0.1:54330/tollgate}"
bin="$(swift build --show-bin-path)/tollgate"
order="$("$bin" orders seed --config config/tollgate.yaml --tenant demo --count 1 --amount-minor 1999 --currency USD 2>/dev/null | tail -n 1)"
echo "seeded order $order (pending_payment, 19.99 USD)"
body="{\"id\":\"evt_demo_${order}\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi_demo\",\"amount\":1999,\"amount_received\":1999,\"currency\":\"usd\",\"metadata\":{\"order_id\":\"${order}\"}}}}"
sign() { "$venv/bin/python" -c 'import sys, stripe; print(stripe.WebhookSignature.generate_signature_header(sys.argv[1], sys.argv[2]))' "$body" "$1"; }
send() {
  curl -s --cacert certs/dev/ca.pem -o /dev/stderr -w '  -> HTTP %{http_code}\n' -D - \
    -H "Content-Type: application/json" -H "Stripe-Signature: $1" --data-binary "$body" \
    https://127.0.0.1:8443/v1/webhooks/demo/stripe | grep -i -E '^(tollgate-duplicate|  ->)' || true
  echo
}
echo "1. genuine (signed by the stripe SDK):"; send "$(sign whsec_dev_demo_stripe_0123456789)"
echo "2. resend:";                             send "$(sign whsec_dev_demo_stripe_0123456789)"
echo "3. forged signature:";                   send "$(sign whsec_forged)"
psql "$TOLLGATE_POSTGRES_URL" -tAc "SELECT 'order ' || order_id || ' is ' || status || ' (transitions: ' || (SELECT count(*) FROM order_transitions t WHERE t.order_id = o.order_id) || ')' FROM orders o WHERE tenant = 'demo' AND order_id = '$order'"
