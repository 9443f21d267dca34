#!/usr/bin/env python3
"""Six ways out of a namespace, and a listener that counts what arrives.

  escape.py listen BASE SECONDS   (in the target's namespace) counts, for
      SECONDS, TCP connections to BASE+1, UDP datagrams to BASE+2..BASE+4,
      and ICMP / ICMPv6 echo requests (from /proc/net/snmp and snmp6), then
      prints one line: `arrived tcp=N udp=N raw=N twin=N icmp=N icmp6=N`.
  escape.py send DST_IP DST_LL BASE PORT   (in the namespace under test)
      tries each: TCP connect, UDP from a fresh socket, raw IPv4 UDP with a
      forged source port PORT (the FIPS transport's), a SO_REUSEPORT twin
      bound to PORT, ping, and ping of the link-local IPv6 DST_LL on eth0.

Used by the main job (`cargo xtask mesh`, xtask/src/mesh/) to show that the sidecar namespace stays
isolated while its daemon is dead (kill -9): the pinned filter still drops.
"""
import socket
import struct
import subprocess
import sys
import time


def snmp_echoes(path, key):
    with open(path) as f:
        lines = f.read().splitlines()
    if path.endswith("snmp6"):
        for line in lines:
            name, value = line.split()[:2]
            if name == key:
                return int(value)
        return 0
    # /proc/net/snmp: a header line of names, then a line of values.
    for names, values in zip(lines, lines[1:]):
        if names.startswith("Icmp:") and values.startswith("Icmp:"):
            return int(values.split()[names.split().index(key)])
    return 0


def listen(base, seconds):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", base + 1))
    tcp.listen(8)
    tcp.settimeout(0.05)
    udps = []
    for port in (base + 2, base + 3, base + 4):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", port))
        u.setblocking(False)
        udps.append(u)
    icmp0 = snmp_echoes("/proc/net/snmp", "InEchos")
    icmp60 = snmp_echoes("/proc/net/snmp6", "Icmp6InEchos")
    counts = {"tcp": 0, "udp": 0, "raw": 0, "twin": 0}
    print("listening", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            conn, _ = tcp.accept()
            counts["tcp"] += 1
            conn.close()
        except (socket.timeout, BlockingIOError):
            pass
        for name, u in zip(("udp", "raw", "twin"), udps):
            try:
                while True:
                    u.recvfrom(2048)
                    counts[name] += 1
            except BlockingIOError:
                pass
    counts["icmp"] = snmp_echoes("/proc/net/snmp", "InEchos") - icmp0
    counts["icmp6"] = snmp_echoes("/proc/net/snmp6", "Icmp6InEchos") - icmp60
    print("arrived " + " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


def send(dst, dst_ll, base, port):
    def attempt(name, fn):
        try:
            fn()
            print(f"sent {name}")
        except OSError as e:
            print(f"sent {name}: {e}")

    def tcp():
        socket.create_connection((dst, base + 1), timeout=1).close()

    def udp():
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"escape", (dst, base + 2))

    def raw():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        payload = b"escape"
        s.sendto(struct.pack("!HHHH", port, base + 3, 8 + len(payload), 0) + payload, (dst, 0))

    def twin():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("0.0.0.0", port))
        s.sendto(b"escape", (dst, base + 4))

    def ping(args):
        return lambda: subprocess.run(["ping", *args], capture_output=True, timeout=5)

    attempt("tcp", tcp)
    attempt("udp", udp)
    attempt("raw", raw)
    attempt("twin", twin)
    attempt("icmp", ping(["-c1", "-W1", dst]))
    attempt("icmp6", ping(["-6", "-c1", "-W1", f"{dst_ll}%eth0"]))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "listen":
        listen(int(sys.argv[2]), float(sys.argv[3]))
    elif len(sys.argv) == 6 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
