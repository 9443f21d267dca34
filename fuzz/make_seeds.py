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
