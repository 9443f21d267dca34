#!/usr/bin/env python3
"""What an app with CAP_NET_RAW (Docker's default capabilities) can do with
packet sockets in the sidecar's network namespace. Run by test-sidecar.sh
in a container started with `--network container:fips-sidecar` and no
cap_drop:

  netraw.py DST_MAC SRC_IP DST_IP DST_PORT SECONDS

1. Reads eth0 with an AF_PACKET socket (ETH_P_ALL) for SECONDS (the harness
   sends ICMP echoes and UDP to another port meanwhile) and prints
   `read other=N fips=N arp=N`: inbound frames that are not the FIPS
   transport (UDP to 4000) or ARP, the transport's frames, ARP.
2. Sends UDP datagrams from SRC_IP (the sidecar's) to DST_IP:DST_PORT as
   raw Ethernet frames to DST_MAC, printing
   `sent NAME`: `bypass-9998` and `bypass-4000` with PACKET_QDISC_BYPASS
   (past every TC hook) from source ports 9998 and 4000 (the transport's),
   and `qdisc-9997` without it (through the TC egress filter).
3. Keeps the sockets open (prints `holding`) until the container is
   removed: the sidecar's tripwire must see them.
"""
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
PACKET_OUTGOING = 4
FIPS_PORT = 4000


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def classify(data):
    ethertype = struct.unpack("!H", data[12:14])[0]
    if ethertype == 0x0806:
        return "arp"
    if ethertype == 0x0800 and len(data) >= 38 and data[23] == 17:
        ihl = (data[14] & 0x0F) * 4
        dport = struct.unpack("!H", data[14 + ihl + 2:14 + ihl + 4])[0]
        return "fips" if dport == FIPS_PORT else "other"
    if ethertype == 0x86DD and len(data) >= 58 and data[20] == 17:
        dport = struct.unpack("!H", data[56:58])[0]
        return "fips" if dport == FIPS_PORT else "other"
    return "other"


def read(seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("eth0", ETH_P_ALL))
    s.settimeout(0.2)
    counts = {"other": 0, "fips": 0, "arp": 0}
    print("reading", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] != PACKET_OUTGOING:
            counts[classify(data)] += 1
    print("read " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
    return s


def send(dst_mac, src_ip, dst_ip, dport):
    socks = []
    for name, sport, bypass in (("bypass-9998", 9998, True), ("bypass-4000", 4000, True),
                                ("qdisc-9997", 9997, False)):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s.bind(("eth0", 0))
        if bypass:
            s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        src_mac = s.getsockname()[4]
        try:
            for _ in range(3):
                s.send(frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, name.encode()))
            print(f"sent {name}", flush=True)
        except OSError as e:
            print(f"sent {name}: {e}", flush=True)
        socks.append(s)
    return socks


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    dst_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
    keep = [read(float(sys.argv[5]))]
    keep += send(dst_mac, sys.argv[2], sys.argv[3], int(sys.argv[4]))
    print("holding", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
