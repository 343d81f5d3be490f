#!/usr/bin/env bash
# Installs the provider libraries hookline-verify's peer tests call:
#   - PyPI: stripe, standardwebhooks (versions in requirements.txt)
#   - npm:  @octokit/webhooks-methods (versions in package-lock.json, into ./node_modules)
# Needs python3 with pip, and node >= 20 with npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

python3 -m pip install --disable-pip-version-check --no-input -r requirements.txt
npm ci --no-audit --no-fund
