#!/usr/bin/env python3
"""Writes the committed seed corpus from the wire test vectors.

Run from fuzz/: python3 make_seeds.py. Seeds are named seed-* so that
.gitignore keeps them and drops what libFuzzer adds during a run.
"""
import json
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing", "lib"))
from pcap_frames import read_udp, split_frames  # noqa: E402

TESTDATA = "../fips-proto/src/wire/testdata"
kat = json.load(open(os.path.join(TESTDATA, "kat.json")))
caps = json.load(open(os.path.join(TESTDATA, "captures.json")))
run = caps["probe-result"]
passive = caps["probe-result-passive"]
frames = run["frames"]


def write(target, name, hexstr=None, raw=None):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    data = raw if raw is not None else bytes.fromhex(hexstr)
    open(os.path.join(d, "seed-" + name), "wb").write(data)


def datagram_payload(plaintext_hex):
    # 4-byte timestamp, then the 36-byte SessionDatagram header.
    return bytes.fromhex(plaintext_hex)[4 + 36:]


ik, xk = kat["fmp_ik"], kat["fsp_xk"]
write("fmp_classify", "msg1", ik["msg1_wire"])
write("fmp_classify", "msg2", ik["msg2_wire"])
write("fmp_classify", "heartbeat", ik["first_frame_initiator_heartbeat_ctr0_ts100"])
write("fmp_classify", "tree-frame", frames["0x10"]["wire"])

for ty, f in sorted(frames.items()):
    write("link_message", "captured-" + ty, f["plaintext"])
write("link_message", "captured-0x30", passive["frames"]["0x30"]["plaintext"])
tree = bytes.fromhex(kat["tree_announce_B_child_of_A"]["encoded_link_message_incl_msg_type"])
write("link_message", "kat-tree", raw=struct.pack("<I", 7) + tree)
write("link_message", "disconnect", raw=struct.pack("<I", 1) + b"\x50\x00")

write("fsp_classify", "setup", xk["session_setup_fsp_payload"])
write("fsp_classify", "ack", xk["session_ack_fsp_payload"])
write("fsp_classify", "msg3", xk["session_msg3_fsp_payload"])
write("fsp_classify", "data", xk["fsp_data_ctr0_ts5"])
write("fsp_classify", "captured-ack", raw=datagram_payload(frames["0x00"]["plaintext"]))
# CoordsRequired: prefix (U flag, len 34), type, flags, dest, reporter.
write("fsp_classify", "coords-required",
      raw=bytes([0, 4, 34, 0, 0x20, 0]) + bytes(range(32)))
# CP-flagged message: header, one src coord, empty dst, inner plaintext + tag.
write("fsp_classify", "cp-warmup",
      raw=bytes([0, 1, 6, 0]) + bytes(8) + b"\x01\x00" + bytes(16) + b"\x00\x00"
      + bytes([5, 0, 0, 0, 0x14, 0]) + bytes(16))

write("shim_decompress", "kat-echo", xk["ipv6_shim_payload"])
write("shim_decompress", "empty-upper", raw=bytes([0, 0x6a, 0xbf, 0xed, 0xcb, 59, 1]))

# --- Real traffic from the reference captures (testdata/captures) ---------

CAPTURES = "../testdata/captures"


def captured_frames():
    """One frame per (capture, phase, length bucket): the shapes, not the bulk."""
    seen = {}
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith(".pcap"):
            continue
        for _, _, _, payload in read_udp(os.path.join(CAPTURES, name)):
            for f in split_frames(payload):
                key = (name.split("-")[0], f[0] & 0x0F, len(f) // 64)
                seen.setdefault(key, f)
    return sorted(seen.items())


for (cap, phase, bucket), f in captured_frames()[:24]:
    write("fmp_classify", "pcap-%s-p%d-%d" % (cap, phase, len(f)), raw=f)

# node_datagram splits its input at 0xff: keep each frame whole.
for (cap, phase, bucket), f in captured_frames()[:12]:
    write("node_datagram", "pcap-%s-p%d-%d" % (cap, phase, len(f)),
          raw=f.replace(b"\xff", b"\xfe"))

# dataplane_input: kind 0x11 = a SessionDatagram for us, 2 = LookupRequest,
# 3 = LookupResponse (first byte of each chunk; chunks split at 0xff).
for cap in ("probe-result", "probe-result-passive"):
    for ty, f in sorted(caps[cap]["frames"].items()):
        body = bytes.fromhex(f["plaintext"])[5:]  # timestamp, msg type
        kind = {"0x00": 0x11, "0x30": 2, "0x31": 3}.get(ty)
        if kind is not None:
            write("dataplane_input", "%s-%s" % (cap, ty),
                  raw=bytes([kind]) + body.replace(b"\xff", b"\xfe"))

# --- DNS queries for the capture identities (dns_wire) --------------------
# First byte: 0 = over UDP, 1 = over TCP; then the DNS message.


NPUBS = {
    "A": "npub1sjlh2c3x9w7kjsqg2ay080n2lff2uvt325vpan33ke34rn8l5jcqawh57m",
    "B": "npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le",
    "C": "npub1cld9yay0u24davpu6c35l4vldrhzvaq66pcqtg9a0j2cnjrn9rtsxx2pe6",
}
NODE_ADDR_C = "aca221406950440c41d550280ed15a7f"  # fd + its first 15 bytes


def dns_query(name, qtype, qclass=1, flags=0x0100, edns=None, qdcount=None):
    msg = struct.pack(">HHHHHH", 0x1234, flags, 1 if qdcount is None else qdcount,
                      0, 0, 0 if edns is None else 1)
    for label in name.split(".") if name else []:
        if label:
            msg += bytes([len(label)]) + label.encode()
    msg += b"\x00" + struct.pack(">HH", qtype, qclass)
    if edns is not None:
        size, version, options = edns
        msg += b"\x00" + struct.pack(">HHBBHH", 41, size, 0, version, 0x8000, len(options)) + options
    return msg


def reverse_name(hex_addr):
    return ".".join(reversed(hex_addr)) + ".ip6.arpa"


addr_c = "fd" + NODE_ADDR_C[:30]
dns_seeds = {
    "aaaa-A": dns_query(NPUBS["A"] + ".fips", 28),
    "aaaa-B-upper": dns_query(NPUBS["B"].upper() + ".FIPS", 28),
    "any-C-edns": dns_query(NPUBS["C"] + ".fips", 255, edns=(1232, 0, b"")),
    "a-A": dns_query(NPUBS["A"] + ".fips", 1),
    "txt-A": dns_query(NPUBS["A"] + ".fips", 16),
    "aaaa-bad-checksum": dns_query(NPUBS["A"][:-1] + "q.fips", 28),
    "aaaa-sub": dns_query("www." + NPUBS["A"] + ".fips", 28),
    "aaaa-alias": dns_query("bee.fips", 28),
    "aaaa-host": dns_query("laptop.fips", 28),
    "ptr-C": dns_query(reverse_name(addr_c), 12),
    "ptr-short": dns_query(reverse_name(addr_c[:7]), 12),
    "soa-apex": dns_query("fips", 6),
    "ns-reverse-apex": dns_query("d.f.ip6.arpa", 2),
    "axfr": dns_query("fips", 252),
    "chaos": dns_query("fips", 16, qclass=3),
    "status-opcode": dns_query("fips", 6, flags=0x1000),
    "two-questions": dns_query(NPUBS["A"] + ".fips", 28, qdcount=2)
    + dns_query(NPUBS["B"] + ".fips", 28)[12:],
    "no-question": struct.pack(">HHHHHH", 1, 0x0100, 0, 0, 0, 0),
    "edns-v1": dns_query(NPUBS["A"] + ".fips", 28, edns=(4096, 1, b"")),
    "edns-cookie": dns_query(NPUBS["A"] + ".fips", 28, edns=(512, 0, struct.pack(">HH", 10, 8) + bytes(8))),
    "foreign": dns_query("example.com", 1),
    "pointer-loop": struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x1c\x00\x01",
}
for name, msg in dns_seeds.items():
    write("dns_wire", "udp-" + name, raw=b"\x00" + msg)
write("dns_wire", "tcp-any-C", raw=b"\x01" + dns_seeds["any-C-edns"])

# --- Control requests and the reference's replies (control_request) -------
# Inputs starting with '{' are request lines; each seed is one request and
# one reply of the reference (fips/tests/data/reference-control).

REFCTL = "../fips/tests/data/reference-control"
requests = {
    "status": {"command": "show_status"},
    "connect": {"command": "connect", "params": {"npub": NPUBS["C"], "address": "10.200.0.3:2121", "transport": "udp"}},
    "connect-name": {"command": "connect", "params": {"npub": NPUBS["C"], "address": "fips-c:2121", "transport": "udp"}},
    "connect-tcp": {"command": "connect", "params": {"npub": NPUBS["C"], "address": "[fd00::1]:2121", "transport": "tcp"}},
    "disconnect": {"command": "disconnect", "params": {"npub": NPUBS["B"]}},
    "disconnect-bad": {"command": "disconnect", "params": {"npub": 7}},
    "firewall": {"command": "firewall_remove"},
    "unknown": {"command": "bogus_cmd"},
}
replies = sorted(f for f in os.listdir(REFCTL) if f.startswith("b-show-") and f.endswith(".json"))
for i, (name, req) in enumerate(requests.items()):
    reply = json.load(open(os.path.join(REFCTL, replies[i % len(replies)])))
    line = json.dumps({"status": "ok", "data": reply}, separators=(",", ":"))
    write("control_request", name, raw=(json.dumps(req) + "\n" + line).encode())
for f in replies:
    data = json.load(open(os.path.join(REFCTL, f)))
    q = f[len("b-show-"):-len(".json")].replace("-", "_")
    line = json.dumps({"status": "ok", "data": data}, separators=(",", ":"))
    write("control_request", "show-" + q, raw=(json.dumps({"command": "show_" + q}) + "\n" + line).encode())

# dns_query and the structured half of control_request read their input
# through `arbitrary`, which has no wire form to write seeds in: their
# seed-run-* files are a spread by size of a 25-second run's corpus after
# `cargo fuzz run <target> NEW corpus/<target> -- -merge=1`. Crashing inputs
# found later are kept as seed-crash-*.
