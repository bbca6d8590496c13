#!/usr/bin/env bash
# The tests drive a real browser (Debian's chromium) and write to a real server that speaks
# the InfluxDB v2 write API (Debian's victoria-metrics); the SNMP driver is also tested against a
# standard agent (Debian's snmpd, run as the test's own process on a high port). Install them when missing.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
[ -x /usr/sbin/snmpd ] || need+=(snmpd)
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing Debian packages the tests need: ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "Run as root, or install them yourself: apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
${SUDO:-} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${need[@]}"
