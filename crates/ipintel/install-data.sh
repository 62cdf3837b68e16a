#!/bin/sh
# Installs the real address data the sock-trace-ipintel agreement tests use.
# For CI on Debian 12, run as root after `apt-get update`.
#   - libloc-database: /usr/share/libloc-location/location.db (CC BY-SA 4.0)
#   - location: IPFire's `location` command (reference for the libloc test)
#   - tor-geoipdb: unpacked without installing tor, to /opt/sock-trace-testdata/tor
# Then run the tests with SOCK_TRACE_REQUIRE_DATA=1 so missing data fails them.
set -eu
DEST=${SOCK_TRACE_TESTDATA:-/opt/sock-trace-testdata}
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends libloc-database location python3-location xz-utils
mkdir -p "$DEST/tor"
tmp=$(mktemp -d)
( cd "$tmp" && apt-get download tor-geoipdb && dpkg -x tor-geoipdb_*.deb "$DEST/tor" )
rm -rf "$tmp"
ls -l /usr/share/libloc-location/location.db "$DEST/tor/usr/share/tor/geoip" "$DEST/tor/usr/share/tor/geoip6"
