"""The FMP frames of a capture: IPv4/UDP packets of a classic pcap and the
frames in each UDP payload. Shared by testing/interop/link_timeline.py and
fuzz/make_seeds.py."""
import struct


def read_udp(path):
    """Yields (time, src, dst, payload) for each IPv4/UDP packet of a classic
    pcap (either byte order, micro- or nanoseconds; Ethernet or Linux
    cooked capture)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(order + "I", data[20:24])[0]
    l2 = {1: 14, 113: 16}.get(linktype, 0)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(order + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = pkt[l2:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        src = "%d.%d.%d.%d:%d" % (*ip[12:16], sport)
        dst = "%d.%d.%d.%d:%d" % (*ip[16:20], dport)
        # The UDP length, not the frame: Ethernet pads short frames.
        yield sec + frac / (1e9 if nano else 1e6), src, dst, udp[8:max(ulen, 8)]


def split_frames(payload):
    """The FMP frames of one UDP payload, which may hold several (GSO as
    captured on veth), split by each frame's payload_len; a frame that
    does not fit ends the payload as it is."""
    off = 0
    while off + 4 <= len(payload):
        phase = payload[off] & 0x0F
        plen = struct.unpack_from("<H", payload, off + 2)[0]
        size = 16 + plen + 16 if phase == 0 else 4 + plen
        if size <= 4 or off + size > len(payload):
            yield payload[off:]
            return
        yield payload[off:off + size]
        off += size
