#!/usr/bin/env python3
"""Generate data/iana-ipv4-address-space.csv and data/iana-ipv6-unicast-address-assignments.csv.

Source: the IANA registry XML files shipped by Debian's python3-netaddr package
(/usr/lib/python3/dist-packages/netaddr/ip/*.xml). IANA registries are public
information. The output uses IANA's own CSV layout so the crate's CSV reader
parses the embedded copy and user-supplied files the same way.

Usage: python3 tools/gen-iana-csv.py [XML_DIR] [OUT_DIR]
"""
import csv
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.iana.org/assignments}"
xml_dir = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/netaddr/ip"
out_dir = sys.argv[2] if len(sys.argv) > 2 else "data"


def text(rec, tag):
    el = rec.find(NS + tag)
    return (el.text or "").strip() if el is not None else ""


def rdap(rec):
    el = rec.find(NS + "rdap")
    if el is None:
        return ""
    return "\n".join((s.text or "").strip() for s in el.findall(NS + "server"))


def convert(xml_name, out_name, header, designation_tag, date_from_attr):
    root = ET.parse(f"{xml_dir}/{xml_name}").getroot()
    updated = text(root, "updated")
    with open(f"{out_dir}/{out_name}", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for rec in root.iter(NS + "record"):
            date = rec.get("date", "") if date_from_attr else text(rec, "date")
            w.writerow([text(rec, "prefix"), text(rec, designation_tag), date,
                        text(rec, "whois"), rdap(rec), text(rec, "status"), ""])
    print(f"{out_name}: registry updated {updated}")


convert("ipv4-address-space.xml", "iana-ipv4-address-space.csv",
        ["Prefix", "Designation", "Date", "WHOIS", "RDAP", "Status [1]", "Note"], "designation", False)
convert("ipv6-unicast-address-assignments.xml", "iana-ipv6-unicast-address-assignments.csv",
        ["Prefix", "Designation", "Date", "WHOIS", "RDAP", "Status", "Note"], "description", True)
