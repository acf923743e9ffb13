#!/usr/bin/env bash
# Installs Debian's Chromium + ChromeDriver (and CJK fonts so Japanese renders in screenshots)
# for the staff app's browser tests, unless they are already there. Needs root (CI runs as root).
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver exist.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then need+=(fonts-noto-cjk); fi

if [ ${#need[@]} -eq 0 ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root to install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing ${need[*]} …"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
fc-cache -f >/dev/null 2>&1 || true
/usr/bin/chromium --version
/usr/bin/chromedriver --version
