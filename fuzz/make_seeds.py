#!/usr/bin/env python3
"""Writes the committed seed corpus from the wire test vectors.

Run from fuzz/: python3 make_seeds.py. Seeds are named seed-* so that
.gitignore keeps them and drops what libFuzzer adds during a run.
"""
import json
import os
import struct

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


def pcap_udp_payloads(path):
    """UDP payloads of a classic little-endian pcap (Ethernet, IPv4)."""
    data = open(path, "rb").read()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", path + ": expected a little-endian pcap"
    linktype = struct.unpack_from("<I", data, 20)[0]
    l2 = {1: 14, 113: 16}[linktype]
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        ip = data[off + 16 + l2: off + 16 + incl]
        off += 16 + incl
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4:]
        ulen = struct.unpack_from(">H", udp, 4)[0]
        yield udp[8:max(ulen, 8)]


def fmp_frames(payload):
    """Splits a GSO batch by the common prefix (see tests/support/pcap.rs)."""
    off = 0
    while off + 4 <= len(payload):
        phase = payload[off] & 0x0F
        plen = struct.unpack_from("<H", payload, off + 2)[0]
        n = 16 + plen + 16 if phase == 0 else 4 + plen
        yield payload[off: off + n]
        off += n


def captured_frames():
    """One frame per (capture, phase, length bucket): the shapes, not the bulk."""
    seen = {}
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith(".pcap"):
            continue
        for payload in pcap_udp_payloads(os.path.join(CAPTURES, name)):
            for f in fmp_frames(payload):
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
