#!/usr/bin/env python3
"""Timeline of the FMP link frames in a pcap, without any keys.

usage: link_timeline.py CAPTURE.pcap [--frames]

Reads the pcap that `CAPTURE=1 mixed-chain.sh` writes (Ethernet, IPv4, UDP),
splits UDP GSO super-packets into FMP frames by their payload_len, and
follows what can be seen in clear: handshake msg1 (sender index) and msg2
(sender and receiver index), and for established frames the receiver index,
the counter and the K bit. It prints the handshakes, each (direction,
receiver index) run with its counter range and K bit, and flags:

  - frames to an index that no handshake in the capture announced,
  - counters that go backwards within one index,
  - a K bit that changes while the index stays the same,
  - silences longer than 30 s in one direction (the reference's dead-link
    timeout).

--frames also prints every frame. Exit status 1 when anything was flagged.
"""
import os
import struct
import sys
from collections import OrderedDict

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcap_frames import read_udp, split_frames  # noqa: E402

PHASE_NAMES = {0: "data", 1: "msg1", 2: "msg2"}
DEAD_LINK_S = 30.0


class Timeline:
    def __init__(self, show_frames):
        self.show_frames = show_frames
        self.t0 = None
        self.announced = {}          # index hex -> (who announced it, time)
        self.runs = OrderedDict()    # (src, dst, idx) -> run dict
        self.last_seen = {}          # (src, dst) -> time of the last data frame
        self.flags = []
        self.handshakes = []

    def rel(self, t):
        return t - self.t0

    def frame(self, t, src, dst, fr):
        if self.t0 is None:
            self.t0 = t
        phase = fr[0] & 0x0F
        if self.show_frames:
            print(f"{self.rel(t):9.3f} {src:>21} -> {dst:<21} {PHASE_NAMES.get(phase, phase)} "
                  f"flags={fr[1]:02x} len={len(fr)}")
        if phase == 1 and len(fr) >= 8:
            idx = fr[4:8].hex()
            self.announced[idx] = (src, t)
            self.handshakes.append(f"{self.rel(t):9.3f} msg1 {src} -> {dst} sender_idx={idx} len={len(fr)}")
        elif phase == 2 and len(fr) >= 12:
            idx, echo = fr[4:8].hex(), fr[8:12].hex()
            self.announced[idx] = (src, t)
            self.handshakes.append(f"{self.rel(t):9.3f} msg2 {src} -> {dst} sender_idx={idx} "
                                   f"receiver_idx={echo} len={len(fr)}")
        elif phase == 0 and len(fr) >= 32:
            self.data(t, src, dst, fr)
        else:
            self.flag(t, f"malformed frame {src} -> {dst}: {fr[:16].hex()}")

    def data(self, t, src, dst, fr):
        idx = fr[4:8].hex()
        ctr = struct.unpack_from("<Q", fr, 8)[0]
        k = fr[1] & 1
        gap_key = (src, dst)
        if gap_key in self.last_seen and t - self.last_seen[gap_key] > DEAD_LINK_S:
            self.flag(t, f"{src} -> {dst} silent for {t - self.last_seen[gap_key]:.1f} s")
        self.last_seen[gap_key] = t
        run = self.runs.get((src, dst, idx))
        if run is None:
            who = self.announced.get(idx)
            if who is None:
                self.flag(t, f"{src} -> {dst} sends to index {idx} that no handshake announced")
            elif who[0] != dst:
                self.flag(t, f"{src} -> {dst} sends to index {idx}, announced by {who[0]}")
            self.runs[(src, dst, idx)] = dict(first=t, last=t, lo=ctr, hi=ctr, n=1, k={k})
            return
        if ctr < run["hi"] - 2048:
            self.flag(t, f"{src} -> {dst} idx {idx}: counter {ctr} far below {run['hi']}")
        if k not in run["k"]:
            self.flag(t, f"{src} -> {dst} idx {idx}: K bit changed to {k} on the same index")
        run["k"].add(k)
        run["last"], run["n"] = t, run["n"] + 1
        run["lo"], run["hi"] = min(run["lo"], ctr), max(run["hi"], ctr)

    def flag(self, t, what):
        self.flags.append(f"{self.rel(t):9.3f} {what}")

    def report(self):
        print("handshakes (msg1/msg2, initial and rekey):")
        for line in self.handshakes:
            print("  " + line)
        print("established runs (direction, receiver index, counters, K):")
        for (src, dst, idx), r in self.runs.items():
            print(f"  {self.rel(r['first']):9.3f}..{self.rel(r['last']):9.3f} {src} -> {dst} idx={idx} "
                  f"frames={r['n']} ctr={r['lo']}..{r['hi']} K={sorted(r['k'])}")
        print(f"flagged: {len(self.flags)}")
        for line in self.flags:
            print("  " + line)
        return 1 if self.flags else 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tl = Timeline("--frames" in sys.argv[2:])
    for t, src, dst, payload in read_udp(sys.argv[1]):
        for fr in split_frames(payload):
            tl.frame(t, src, dst, fr)
    return tl.report()


if __name__ == "__main__":
    sys.exit(main())
