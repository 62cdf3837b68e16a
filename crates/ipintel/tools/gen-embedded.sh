#!/bin/sh
# Regenerates data/embedded.bin.xz and data/countries.tsv from an IPFire
# location database (default: Debian's libloc-database package).
# Data licence: CC BY-SA 4.0, IPFire Project (see INTEL.md).
set -eu
cd "$(dirname "$0")/.."
DB=${1:-/usr/share/libloc-location/location.db}
rm -f data/embedded.bin
cargo run --release --no-default-features --example gen-embedded -- "$DB" data
xz -9e -f data/embedded.bin
ls -l data/embedded.bin.xz data/countries.tsv
