#!/usr/bin/env bash
# Regenerates the signed webhook vectors in Tests/Fixtures/webhooks/ with the providers' official
# SDKs (pinned below) in a private virtualenv. Commit the JSON it writes.
#   Tests/Fixtures/make-webhook-fixtures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "stripe==16.1.0" "standardwebhooks==1.1.0" "svix==2.9.1" "Adyen==16.0.0" \
  "paddle-python-sdk==1.16.1" "cryptography>=42"
"$venv/bin/python" "$here/make_webhook_fixtures.py" "$here/webhooks"
