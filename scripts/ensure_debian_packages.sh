#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, unless they are already there:
#   * Chromium + ChromeDriver (+ CJK fonts so Japanese renders in screenshots): the staff app's
#     browser tests;
#   * nginx: the balancer of the two-instance production test (deploy/run_two_instances.sh);
#   * faketime (libfaketime): the fast suites run once more under a clock years ahead
#     (scripts/shifted_clock_tests.sh), so a test that depends on today's date fails today;
#   * systemd (systemd-analyze): the rendered units are verified (tests/security/test_deploy_definition.py).
# Needs root (CI runs as root). Idempotent. nginx is installed without starting its service:
# the test starts its own nginx on a free port.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then need+=(fonts-noto-cjk); fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)

if [ ${#need[@]} -eq 0 ]; then
  echo "debian packages: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(/usr/sbin/nginx -v 2>&1 || echo nginx)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root to install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing ${need[*]} …"
# Keep package scripts from starting services (nginx would take port 80).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
fc-cache -f >/dev/null 2>&1 || true
/usr/bin/chromium --version
/usr/bin/chromedriver --version
/usr/sbin/nginx -v
faketime --version 2>/dev/null | head -1 || true
