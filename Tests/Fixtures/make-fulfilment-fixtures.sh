#!/usr/bin/env bash
# Regenerates Tests/Fixtures/fulfilment/standard-webhooks-deliveries.json: fulfilment deliveries
# signed by the official standardwebhooks package (pinned below), in the private virtualenv shared
# with make-webhook-fixtures.sh. Commit the JSON it writes.
#   Tests/Fixtures/make-fulfilment-fixtures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "standardwebhooks==1.1.0"
"$venv/bin/python" "$here/make_fulfilment_fixtures.py" "$here/fulfilment/standard-webhooks-deliveries.json"
