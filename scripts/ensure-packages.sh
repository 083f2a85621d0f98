#!/usr/bin/env bash
# Install the Debian packages Depicted needs that this machine lacks: as root with apt-get,
# otherwise print the one command to run. Used by make run, make test and make bench.
#   scripts/ensure-packages.sh run|test|bench
set -euo pipefail
what="${1:-test}"
packages=(chromium chromium-headless-shell fonts-liberation2 fonts-dejavu-core python3-venv)
case "$what" in
  test|bench)
    # The databases and broker the suite talks to; the real site the capture tests and
    # benchmarks load (python3.11-doc); unshare/setpriv (util-linux) and ip (iproute2) for the
    # network-namespace and sandbox tests; node for the reference diff tools.
    packages+=(redis-server postgresql mariadb-server python3.11-doc util-linux iproute2)
    command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
    [ "$what" = bench ] && packages+=(imagemagick)
    ;;
esac
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages; install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
