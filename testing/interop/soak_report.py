#!/usr/bin/env python3
"""Summarise the control-socket samples that mixed-chain.sh took during a soak.

usage: soak_report.py SAMPLES.tsv REPORT.txt a=NPUB b=NPUB c=NPUB [busy=ac]

Each sample line is: t node kind npub state our_index k_bit since
(kind "peer": since = authenticated_at_ms; kind "session": since =
session_start_ms; "-" when the implementation does not report the field).

A link is continuous when its peer is listed as connected in every sample
after it first appeared and authenticated_at_ms never changes (a changed
value means the link was torn down and re-established). A rekey shows up as
a new our_session_index and a flipped K bit (FMP), or a flipped K bit (FSP).
Only sessions between the nodes named by busy= (default a and c, the ones
the soak pings) must stay up: others idle out after 90 s, as they should.
Exit status 1 when any link or busy session was discontinuous or a node died.
"""
import sys
from collections import defaultdict


def load(path):
    rows, dead, times = [], set(), defaultdict(set)
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3 and cols[2] == "dead":
                dead.add(cols[1])
            elif len(cols) == 8:
                rows.append(cols)
                times[cols[1]].add(int(cols[0]))
    return rows, dead, times


def changes(values):
    known = [v for v in values if v != "-"]
    return sum(1 for x, y in zip(known, known[1:]) if x != y)


def analyse(rows, dead, times, names, busy):
    series = defaultdict(list)
    for t, node, kind, npub, state, idx, k, since in rows:
        series[(node, kind, names.get(npub, npub[:12]))].append((int(t), state, idx, k, since))
    out, bad = [], False
    rekeys = defaultdict(int)
    for (node, kind, peer), pts in sorted(series.items()):
        first = pts[0][0]
        link = "".join(sorted(node + peer))
        if kind == "session" and link != busy:
            idle = max(times[node]) > pts[-1][0]
            out.append(f"{node}->{peer} session: {len(pts)} samples t={first}..{pts[-1][0]}s"
                       + (" (then idle-expired)" if idle else ""))
            continue
        seen = {p[0] for p in pts}
        gaps = sorted(t for t in times[node] if t >= first and t not in seen)
        good = "connected" if kind == "peer" else "established"
        notgood = [p[0] for p in pts if p[1] not in (good, "-")]
        idx_changes = changes([p[2] for p in pts])
        k_flips = changes([p[3] for p in pts])
        since_changes = changes([p[4] for p in pts])
        key = ("fmp " if kind == "peer" else "fsp ") + link
        rekeys[key] = max(rekeys[key], idx_changes if kind == "peer" else k_flips, k_flips)
        problem = []
        if gaps:
            problem.append(f"missing at t={gaps[:5]}")
        if notgood:
            problem.append(f"not {good} at t={notgood[:5]}")
        if kind == "peer" and since_changes:
            problem.append(f"authenticated_at changed {since_changes}x (link re-established)")
        note = "" if kind == "peer" or not since_changes else f" session_start changed {since_changes}x"
        bad |= bool(gaps or notgood or (kind == "peer" and since_changes))
        out.append(f"{node}->{peer} {kind}: {len(pts)} samples t={first}..{pts[-1][0]}s "
                   f"index changes {idx_changes}, K flips {k_flips}{note}"
                   + ("  PROBLEM: " + "; ".join(problem) if problem else ""))
    for node in sorted(dead):
        out.append(f"{node}: DEAD during the soak")
        bad = True
    out.append("rekeys " + ", ".join(f"{k}={v}" for k, v in sorted(rekeys.items())))
    return out, bad


def main():
    rows, dead, times = load(sys.argv[1])
    names, busy = {}, "ac"
    for arg in sys.argv[3:]:
        key, value = arg.split("=", 1)
        if key == "busy":
            busy = "".join(sorted(value))
        else:
            names[value] = key
    out, bad = analyse(rows, dead, times, names, busy)
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")
    return 1 if bad or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
