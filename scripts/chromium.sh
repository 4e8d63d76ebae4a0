#!/usr/bin/env bash
# Installs Debian's chromium for the web chat's browser test
# (botserver/webchat_browser_test.go). Does nothing when a browser is there;
# without root (and no sudo) it only says what to run, and the test skips.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done
if [ "$(id -u)" = 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO=sudo
else
	echo "chromium is missing and this user cannot install it: run 'apt-get update && apt-get install -y chromium' as root" >&2
	exit 1
fi
echo "installing chromium (Debian package) for the browser test"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium
