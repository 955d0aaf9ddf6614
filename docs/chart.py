#!/usr/bin/env python3
"""Turns criterion's output for `benches/compare.rs` into the ratio tables of docs/benchmarks.md
and the chart docs/benchmarks.svg.

    cargo bench --bench compare      # writes target/criterion/**/new/estimates.json
    python3 docs/chart.py            # prints the tables, writes them and the chart

Every number is a ratio of medians from the same run: ErrGroup's time divided by the peer's, so
below 1 means ErrGroup is faster. The bench measures each point once per round (`n-rROUND`), so
each round gives one ratio from two medians measured seconds apart, and the table shows the median
of those ratios (after a run with fewer rounds than an earlier one, remove target/criterion first
so that no stale round is counted). Options: `--criterion DIR` (default target/criterion),
`--svg FILE` (default docs/benchmarks.svg), `--doc FILE` (default docs/benchmarks.md): the tables
replace what is between the `<!-- bench-table -->` and `<!-- /bench-table -->` markers there
(`--doc ''` only prints them). Standard library only.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
from datetime import datetime, timezone

# Peers of the `ready` and `yield1` scenarios, in table order, with the label shown.
PEERS = [
    ("try_join_all_boxed", "futures `try_join_all`, boxed"),
    ("futures_unordered_boxed", "raw `FuturesUnordered`, boxed"),
    ("fc_try_join_boxed", "futures-concurrency `try_join`, boxed"),
    ("fb_try_join_all_boxed", "futures-buffered `try_join_all`, boxed"),
    ("joinset", "tokio `JoinSet` (current-thread)"),
    ("try_join_all", "futures `try_join_all`, unboxed"),
    ("fc_try_join", "futures-concurrency `try_join`, unboxed"),
    ("fb_try_join_all", "futures-buffered `try_join_all`, unboxed"),
]
SIZES = [10, 100, 1000, 10000, 100000]
# The other scenarios: (group, peer, label).
EXTRA = [
    ("failfast", "futures_unordered_boxed", "raw `FuturesUnordered`, boxed"),
    ("limit", "buffered_boxed", "`stream::iter(..).buffered(16)`, boxed"),
    ("limit", "buffered", "`stream::iter(..).buffered(16)`, unboxed"),
]
# The `shapes` scenario: the trees services build, by name, and the trees they are compared with.
SHAPES = [
    ("3", "flat 3"),
    ("6", "flat 6"),
    ("10", "flat 10"),
    ("6x6", "6 × 6"),
    ("6x6x6", "6 × 6 × 6"),
    ("4x4x4x4", "4 × 4 × 4 × 4"),
    ("6x6x6x6x6", "five levels of 6"),
]
SHAPE_PEERS = [
    ("futures_unordered_boxed", "tree of boxed `FuturesUnordered`s"),
    ("try_join_all_boxed", "tree of boxed `try_join_all`s"),
]


def target(group, peer, n):
    """The largest ratio the project accepts, or None where no target applies."""
    if group == "shapes":
        if peer == "futures_unordered_boxed":
            return 1.0
        if peer == "try_join_all_boxed" and "x" not in str(n):
            return 1.3
        return None
    if peer == "joinset":
        return 0.5
    if group == "failfast":
        return 1.0
    if group == "limit":
        return 0.5 if peer == "buffered_boxed" else None
    if group not in ("ready", "yield1"):
        return None
    if n >= 1000 and peer == "futures_unordered_boxed":
        return 0.7
    if n == 10 and peer == "try_join_all_boxed":
        return 1.3
    return None


def load(root):
    """{(group, function, n): {round: median in ns}} from every `new/` result under `root`; also
    the newest result's time and the number of rounds."""
    rounds = {}
    newest = 0.0
    for directory, _, files in os.walk(root):
        if os.path.basename(directory) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(directory, "benchmark.json")) as f:
            bench = json.load(f)
        path = os.path.join(directory, "estimates.json")
        with open(path) as f:
            estimates = json.load(f)
        value = re.fullmatch(r"(\w+)-r(\d+)", bench["value_str"] or "")
        if value is None:
            continue
        n = value.group(1)
        key = (bench["group_id"], bench["function_id"], int(n) if n.isdigit() and bench["group_id"] != "shapes" else n)
        rounds.setdefault(key, {})[int(value.group(2))] = estimates["median"]["point_estimate"]
        newest = max(newest, os.path.getmtime(path))
    count = max((len(times) for times in rounds.values()), default=0)
    return rounds, newest, count


def ratio(medians, group, peer, n):
    """The median over rounds of ErrGroup's median divided by the peer's, in the same round."""
    ours, theirs = medians.get((group, "errgroup", n), {}), medians.get((group, peer, n), {})
    ratios = [ours[r] / theirs[r] for r in ours if r in theirs]
    return statistics.median(ratios) if ratios else None


def size(n):
    """`100000` as `100 000`."""
    return f"{n:,}".replace(",", " ")


def cell(value, limit):
    if value is None:
        return "–"
    text = f"{value:.2f}"
    if limit is not None and value > limit:
        return f"**{text}** ✗"
    return text


def table(medians):
    lines = ["| `shapes`: ErrGroup ÷ | " + " | ".join(label for _, label in SHAPE_PEERS) + " |"]
    lines.append("|---|" + "---:|" * len(SHAPE_PEERS))
    for shape, label in SHAPES:
        cells = [
            cell(ratio(medians, "shapes", peer, shape), target("shapes", peer, shape))
            for peer, _ in SHAPE_PEERS
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for group in ("ready", "yield1"):
        lines.append(f"| `{group}`: ErrGroup ÷ | " + " | ".join(f"n = {size(n)}" for n in SIZES) + " |")
        lines.append("|---|" + "---:|" * len(SIZES))
        for peer, label in PEERS:
            cells = [cell(ratio(medians, group, peer, n), target(group, peer, n)) for n in SIZES]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("| other scenarios: ErrGroup ÷ | n | ratio | target |")
    lines.append("|---|---:|---:|---:|")
    for group, peer, label in EXTRA:
        sizes = sorted(n for (g, f, n) in medians if g == group and f == peer)
        for n in sizes:
            limit = target(group, peer, n)
            value = ratio(medians, group, peer, n)
            lines.append(
                f"| `{group}`: {label} | {size(n)} | {cell(value, limit)} | "
                + (f"≤ {limit:.2f}" if limit is not None else "–")
                + " |"
            )
    return "\n".join(lines)


def machine(when):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    date = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{os.cpu_count()} cores ({model}), {date}"


# ---------------------------------------------------------------------------------------------
# The chart: one log-log panel per run-to-completion scenario, one panel of bars for the rest.

COLORS = {
    "try_join_all_boxed": "#1f77b4",
    "futures_unordered_boxed": "#d62728",
    "fc_try_join_boxed": "#2ca02c",
    "fb_try_join_all_boxed": "#9467bd",
    "joinset": "#ff7f0e",
    "try_join_all": "#1f77b4",
    "fc_try_join": "#2ca02c",
    "fb_try_join_all": "#9467bd",
}
Y_MIN, Y_MAX = 0.05, 20.0


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "")


class Panel:
    def __init__(self, x, y, width, height):
        self.x, self.y, self.w, self.h = x, y, width, height

    def ypos(self, value):
        value = min(max(value, Y_MIN), Y_MAX)
        span = math.log10(Y_MAX) - math.log10(Y_MIN)
        return self.y + self.h * (math.log10(Y_MAX) - math.log10(value)) / span

    def frame(self, out, title):
        out.append(f'<text x="{self.x + self.w / 2}" y="{self.y - 10}" class="title">{esc(title)}</text>')
        out.append(f'<rect x="{self.x}" y="{self.y}" width="{self.w}" height="{self.h}" class="frame"/>')
        for tick in (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20):
            y = self.ypos(tick)
            style = "one" if tick == 1 else "grid"
            out.append(f'<line x1="{self.x}" x2="{self.x + self.w}" y1="{y:.1f}" y2="{y:.1f}" class="{style}"/>')
            out.append(f'<text x="{self.x - 6}" y="{y + 4:.1f}" class="ytick">{tick:g}×</text>')


def line_panel(out, panel, medians, group):
    panel.frame(out, f"{group}: ErrGroup time ÷ peer time")

    def xpos(n):
        return panel.x + 30 + (panel.w - 60) * (math.log10(n) - 1) / 4

    for n in SIZES:
        out.append(f'<text x="{xpos(n):.1f}" y="{panel.y + panel.h + 18}" class="xtick">{size(n)}</text>')
    out.append(f'<text x="{panel.x + panel.w / 2}" y="{panel.y + panel.h + 36}" class="xlabel">tasks (n)</text>')
    for peer, _ in PEERS:
        points = [(xpos(n), panel.ypos(r)) for n in SIZES if (r := ratio(medians, group, peer, n)) is not None]
        if not points:
            continue
        dash = ' stroke-dasharray="5,4"' if not peer.endswith("boxed") and peer != "joinset" else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[peer]}" stroke-width="2"{dash}/>')
        for x, y in points:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLORS[peer]}"/>')


def shapes_panel(out, panel, medians):
    """Two bars per shape: against the tree of `FuturesUnordered`s and of `try_join_all`s."""
    panel.frame(out, "shapes: ErrGroup time ÷ the same tree's")
    slot = panel.w / len(SHAPES)
    width = slot * 0.34
    for i, (shape, label) in enumerate(SHAPES):
        for j, (peer, _) in enumerate(SHAPE_PEERS):
            value = ratio(medians, "shapes", peer, shape)
            if value is None:
                continue
            x = panel.x + slot * i + slot * 0.14 + j * width
            top, base = panel.ypos(value), panel.ypos(1)
            y, height = min(top, base), abs(base - top)
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(height, 1):.1f}" fill="{COLORS[peer]}" opacity="0.8"/>')
            limit = target("shapes", peer, shape)
            if limit is not None:
                ly = panel.ypos(limit)
                out.append(f'<line x1="{x - 2:.1f}" x2="{x + width + 2:.1f}" y1="{ly:.1f}" y2="{ly:.1f}" class="target"/>')
            label_y = (top - 4) if value > 1 else min(top + 12, panel.y + panel.h - 4)
            out.append(f'<text x="{x + width / 2:.1f}" y="{label_y:.1f}" class="small">{value:.2f}</text>')
        out.append(f'<text x="{panel.x + slot * (i + 0.5):.1f}" y="{panel.y + panel.h + 15}" class="xtick">{esc(shape.replace("6x6x6x6x6", "6^5").replace("x", "×"))}</text>')
    out.append(f'<text x="{panel.x + panel.w / 2}" y="{panel.y + panel.h + 36}" class="xlabel">flat groups, then nested (one leaf woken at a time)</text>')


def bar_panel(out, panel, medians):
    panel.frame(out, "failfast and limit: ErrGroup ÷ peer")
    bars = []
    for group, peer, _ in EXTRA:
        for n in sorted(n for (g, f, n) in medians if g == group and f == peer):
            value = ratio(medians, group, peer, n)
            if value is not None:
                name = "vs FU" if peer.startswith("futures_unordered") else "vs buffered"
                boxed = "(boxed)" if peer.endswith("_boxed") else "(unboxed)"
                bars.append((group, size(n), name, boxed, value, target(group, peer, n)))
    if not bars:
        return
    slot = panel.w / len(bars)
    for i, (group, n, name, boxed, value, limit) in enumerate(bars):
        x = panel.x + slot * i + slot * 0.2
        top, base = panel.ypos(value), panel.ypos(1)
        y, height = min(top, base), abs(base - top)
        color = "#2ca02c" if value <= 1 else "#d62728"
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{max(height, 1):.1f}" fill="{color}" opacity="0.8"/>')
        label_y = top + 14
        if limit is not None:
            ly = panel.ypos(limit)
            out.append(f'<line x1="{x - 3:.1f}" x2="{x + slot * 0.6 + 3:.1f}" y1="{ly:.1f}" y2="{ly:.1f}" class="target"/>')
        if value > 1:
            label_y = min(top, panel.ypos(limit) if limit is not None else top) - 5
        out.append(f'<text x="{x + slot * 0.3:.1f}" y="{label_y:.1f}" class="value">{value:.2f}</text>')
        for line, text in enumerate((group, n, name, boxed)):
            out.append(f'<text x="{x + slot * 0.3:.1f}" y="{panel.y + panel.h + 15 + 13 * line}" class="xtick">{esc(text)}</text>')


def svg(medians, caption):
    width, height = 1180, 515
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">',
        "<style>"
        ".title{font-size:14px;font-weight:bold;text-anchor:middle}"
        ".frame{fill:none;stroke:#999}"
        ".grid{stroke:#e5e5e5}"
        ".one{stroke:#333;stroke-width:1.5}"
        ".target{stroke:#000;stroke-width:2;stroke-dasharray:3,2}"
        ".ytick{font-size:11px;text-anchor:end;fill:#444}"
        ".xtick{font-size:11px;text-anchor:middle;fill:#444}"
        ".xlabel{font-size:12px;text-anchor:middle}"
        ".value{font-size:11px;text-anchor:middle}"
        ".small{font-size:9px;text-anchor:middle}"
        ".legend{font-size:12px}"
        ".caption{font-size:11px;fill:#555}"
        "</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    shapes_panel(out, Panel(60, 40, 400, 300), medians)
    line_panel(out, Panel(520, 40, 320, 300), medians, "yield1")
    bar_panel(out, Panel(900, 40, 260, 300), medians)
    # Legends: the shapes' bars, then the line panel's peers.
    for i, (peer, label) in enumerate(SHAPE_PEERS):
        x, y = 60, 418 + i * 18
        out.append(f'<rect x="{x}" y="{y - 10}" width="24" height="10" fill="{COLORS[peer]}" opacity="0.8"/>')
        out.append(f'<text x="{x + 30}" y="{y}" class="legend">shapes: against a {esc(label)}</text>')
    for i, (peer, label) in enumerate(PEERS):
        x, y = 520 + (i % 2) * 300, 418 + (i // 2) * 18
        dash = ' stroke-dasharray="5,4"' if not peer.endswith("boxed") and peer != "joinset" else ""
        out.append(f'<line x1="{x}" x2="{x + 24}" y1="{y - 4}" y2="{y - 4}" stroke="{COLORS[peer]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 30}" y="{y}" class="legend">{esc(label)}</text>')
    out.append(
        f'<text x="60" y="466" class="legend">bars: below the 1× line ErrGroup is faster;</text>'
        f'<text x="60" y="484" class="legend">dashed black line = the project\'s target</text>'
    )
    out.append(f'<text x="60" y="{height - 8}" class="caption">{esc(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--criterion", default="target/criterion")
    parser.add_argument("--svg", default="docs/benchmarks.svg")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    args = parser.parse_args()

    medians, newest, rounds = load(args.criterion)
    if not any(f == "errgroup" for (_, f, _) in medians):
        sys.exit(f"no ErrGroup results under {args.criterion}: run `cargo bench --bench compare` first")
    where = machine(newest)
    caption = (
        f"ErrGroup's median time ÷ the peer's, median over {rounds} rounds of one run; below 1× ErrGroup is "
        f"faster (log scale). Dashed lines: unboxed peers. {where}."
    )
    with open(args.svg, "w") as f:
        f.write(svg(medians, caption))
    text = table(medians) + f"\n\nMachine and date: {where}; median over {rounds} rounds of the per-round ratios."
    print(text)
    if args.doc:
        with open(args.doc) as f:
            readme = f.read()
        pattern = re.compile(r"(<!-- bench-table -->\n).*?(<!-- /bench-table -->)", re.S)
        if not pattern.search(readme):
            sys.exit(f"{args.doc} has no <!-- bench-table --> markers")
        readme = pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme)
        with open(args.doc, "w") as f:
            f.write(readme)


if __name__ == "__main__":
    main()
