#!/usr/bin/env python3
"""Verdicts over the samples a soak script wrote (loss-soak.sh, churn-soak.sh).

usage:
  soak_check.py figures SAMPLES.tsv BASE_T RULE...
  soak_check.py links LINKS.tsv EXPECTED.txt MIN_REKEYS
  soak_check.py pings PING.txt MAX_LOSS_PCT MAX_GAP

figures: SAMPLES.tsv has lines "t<TAB>series<TAB>value". For each series it
prints first, base (the median of the samples within 30 s of BASE_T, or the
nearest sample), last (median of the last three samples), min and max. A RULE
"GLOB:REL:ABS" makes every series whose name matches GLOB (fnmatch) flat
when last <= base * (1 + REL) + ABS; a RULE "GLOB:max:LIMIT" bounds every
sample by LIMIT. Series that match no rule are only reported.

links: LINKS.tsv has lines "t<TAB>node<TAB>peer<TAB>state<TAB>auth_at<TAB>index"
(one per peer per sample; "t<TAB>node<TAB>-<TAB>no-answer" when the control
socket did not answer). EXPECTED.txt has lines "node peer". A link holds when
its peer is connected in every sample of the node and authenticated_at never
changes (a change means the link was torn down and set up again). A change of
our session index is a completed FMP rekey; each link needs MIN_REKEYS.

pings: the output of `ping -D`; loss in percent and the longest run of
consecutive missing sequence numbers must stay within the bounds.

Exit status 1 when any verdict failed.
"""
import fnmatch
import re
import statistics
import sys
from collections import defaultdict


def load_figures(path):
    series = defaultdict(list)
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 3:
                continue
            try:
                series[cols[1]].append((float(cols[0]), float(cols[2])))
            except ValueError:
                continue
    return series


def base_value(points, base_t):
    near = [v for t, v in points if abs(t - base_t) <= 30]
    if near:
        return statistics.median(near)
    return min(points, key=lambda p: abs(p[0] - base_t))[1]


def parse_rules(args):
    rules = []
    for arg in args:
        glob, kind, value = arg.rsplit(":", 2)
        rules.append((glob, kind, float(value)))
    return rules


def judge(name, pts, base, last, rules):
    problems = []
    for glob, kind, value in rules:
        if not fnmatch.fnmatch(name, glob):
            continue
        if kind == "max":
            over = [(t, v) for t, v in pts if v > value]
            if over:
                problems.append(f"above {value:g} at t={over[0][0]:g}s ({over[0][1]:g})")
            continue
        limit = base * (1 + float(kind)) + value
        if last > limit:
            problems.append(f"grew: last {last:g} > base {base:g} * {1 + float(kind):g} + {value:g}")
    return problems


def figures(path, base_t, rule_args):
    series = load_figures(path)
    rules = parse_rules(rule_args)
    bad = False
    print(f"{'series':<34} {'first':>10} {'base':>10} {'last':>10} {'min':>10} {'max':>10}  verdict")
    for name in sorted(series):
        pts = sorted(series[name])
        vals = [v for _, v in pts]
        base = base_value(pts, base_t)
        last = statistics.median(vals[-3:])
        problems = judge(name, pts, base, last, rules)
        checked = any(fnmatch.fnmatch(name, g) for g, _, _ in rules)
        verdict = "FAIL " + "; ".join(problems) if problems else ("flat" if checked else "-")
        bad |= bool(problems)
        print(f"{name:<34} {vals[0]:>10g} {base:>10g} {last:>10g} {min(vals):>10g} {max(vals):>10g}  {verdict}")
    if not series:
        print("no samples")
        return 1
    return 1 if bad else 0


def links(path, expected_path, min_rekeys):
    times = defaultdict(set)
    seen = defaultdict(list)
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 4:
                continue
            t, node = int(cols[0]), cols[1]
            times[node].add(t)
            if len(cols) == 6:
                seen[(node, cols[2])].append((t, cols[3], cols[4], cols[5]))
    bad = False
    with open(expected_path) as f:
        expected = [tuple(line.split()) for line in f if line.strip()]
    for node, peer in expected:
        pts = sorted(seen.get((node, peer), []))
        have = {p[0] for p in pts}
        missing = sorted(times[node] - have)
        notup = [p[0] for p in pts if p[1] != "connected"]
        auth_changes = sum(1 for x, y in zip(pts, pts[1:]) if x[2] != y[2])
        rekeys = sum(1 for x, y in zip(pts, pts[1:]) if x[3] != y[3])
        problems = []
        if missing:
            problems.append(f"absent at t={missing[:5]}")
        if notup:
            problems.append(f"not connected at t={notup[:5]}")
        if auth_changes:
            problems.append(f"re-established {auth_changes}x")
        if rekeys < min_rekeys:
            problems.append(f"{rekeys} rekeys < {min_rekeys}")
        bad |= bool(problems)
        span = f"t={pts[0][0]}..{pts[-1][0]}s" if pts else "never seen"
        print(f"{node}->{peer}: {len(pts)} samples {span}, FMP rekeys {rekeys}"
              + ("  FAIL " + "; ".join(problems) if problems else "  held"))
    return 1 if bad or not expected else 0


def pings(path, max_loss, max_gap):
    seqs = set()
    sent = None
    with open(path) as f:
        for line in f:
            m = re.search(r"icmp_seq=(\d+)", line)
            if m and "time=" in line:
                seqs.add(int(m.group(1)))
            m = re.match(r"(\d+) packets transmitted", line)
            if m:
                sent = int(m.group(1))
    if not sent:
        print(f"{path}: no ping summary")
        return 1
    got = len(seqs)
    loss = 100.0 * (sent - got) / sent
    gap = run = 0
    for s in range(1, sent + 1):
        run = 0 if s in seqs else run + 1
        gap = max(gap, run)
    ok = loss <= max_loss and gap <= max_gap
    print(f"{got}/{sent} answered, loss {loss:.1f}% (max {max_loss:g}), longest gap {gap} (max {max_gap:g})"
          + ("" if ok else "  FAIL"))
    return 0 if ok else 1


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "figures":
        return figures(args[0], float(args[1]), args[2:])
    if cmd == "links":
        return links(args[0], args[1], int(args[2]))
    if cmd == "pings":
        return pings(args[0], float(args[1]), float(args[2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
