#!/usr/bin/env bash
# Make sure the real services the test suite starts itself are installed:
#   mosquitto (Debian package `mosquitto`, /usr/sbin/mosquitto)
#   influxd   (Debian package `influxdb`, InfluxDB 1.6.7, /usr/bin/influxd)
# Idempotent and silent when everything is present. The tests never use the
# packages' own services: they run private daemons on free loopback ports.
set -euo pipefail

have() {  # have NAME FALLBACK_PATH
    [[ -x "$2" ]] || command -v "$1" >/dev/null 2>&1
}

missing=()
have mosquitto /usr/sbin/mosquitto || missing+=(mosquitto)
have influxd /usr/bin/influxd || missing+=(influxdb)

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

manual_hint() {
    echo "ensure-services: install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
}

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "ensure-services: missing Debian package(s): ${missing[*]} (needed by the tests)." >&2
    echo "ensure-services: not root and passwordless sudo is unavailable." >&2
    manual_hint
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: missing ${missing[*]} and apt-get is not available." >&2
    echo "ensure-services: install mosquitto (2.x) and InfluxDB 1.x (influxd) by other means." >&2
    exit 1
fi

echo "ensure-services: installing ${missing[*]} with apt-get..." >&2

# Keep the packages' init scripts from starting their own daemons on the default ports
# (1883, 8086, 8088) during installation: a policy-rc.d that denies every action is the
# standard Debian mechanism. Only add one if none exists, and remove only our own.
policy=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
    if [[ $added_policy -eq 1 ]]; then
        "${as_root[@]}" rm -f "$policy" || true
    fi
}
trap cleanup EXIT
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# added by warmnet scripts/ensure-services.sh\nexit 101\n' \
        | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    added_policy=1
fi

if ! "${as_root[@]}" apt-get update -qq \
    || ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "ensure-services: apt-get failed." >&2
    manual_hint
    exit 1
fi

have mosquitto /usr/sbin/mosquitto || { echo "ensure-services: mosquitto still missing" >&2; exit 1; }
have influxd /usr/bin/influxd || { echo "ensure-services: influxd still missing" >&2; exit 1; }
echo "ensure-services: ok ($(/usr/sbin/mosquitto -h 2>/dev/null | head -n1 || true);" \
    "$(influxd version 2>/dev/null || true))" >&2
