#!/usr/bin/python3
"""Reference lookups through IPFire's own libloc (python3-location, the library
behind the `location` command). Reads addresses on stdin, prints the same
layout as `location lookup`, and "Nothing found for ADDR" when there is no
match -- where `location lookup` itself aborts the whole batch with
"[Errno 25]" on some unmatched IPv6 addresses.

Usage: tools/libloc-reference.py DATABASE < addresses
"""
import sys

import location

db = location.Database(sys.argv[1])
FLAGS = [
    (location.NETWORK_FLAG_ANONYMOUS_PROXY, "Anonymous Proxy"),
    (location.NETWORK_FLAG_SATELLITE_PROVIDER, "Satellite Provider"),
    (location.NETWORK_FLAG_ANYCAST, "Anycast"),
    (location.NETWORK_FLAG_DROP, "Hostile Network safe to drop"),
]
out = []
for line in sys.stdin:
    addr = line.strip()
    if not addr:
        continue
    n = db.lookup(addr)
    if n is None:
        out.append(f"Nothing found for {addr}")
        continue
    out.append(f"{addr}:")
    out.append(f"  Network                 : {n}")
    if n.country_code:
        c = db.get_country(n.country_code)
        out.append(f"  Country                 : {c.name if c else n.country_code}")
    if n.asn:
        a = db.get_as(n.asn)
        out.append(f"  Autonomous System       : AS{n.asn} - {a.name if a else ''}")
    for flag, name in FLAGS:
        if n.has_flag(flag):
            out.append(f"  {name:24}: yes")
print("\n".join(out))
