"""SVG pictures of a netsim run, drawn by hand (no plotting library needed).

peers_svg: left, the distribution of append -> arrival latency (a histogram on log-spaced
buckets, with its cumulative share as a line); right, every delivery's latency against the time
it was appended, with the faults marked (kills as red ticks, a partition as a grey band), so
convergence after each fault shows at a glance. crowd_svg: connections held over time, one line
per implementation.
"""

import math
import random

W, H = 1000, 420
PANEL_H = 300
TOP = 50


def histogram(values_ms):
    """Counts per log-spaced bucket: [(upper bound ms, count)], bounds 1, 2, 5, 10, 20, 50... ms."""
    bounds = []
    b = 1.0
    while len(bounds) < 18:
        for m in (1, 2, 5):
            bounds.append(b * m)
        b *= 10
    counts = [0] * len(bounds)
    for v in values_ms:
        for i, ub in enumerate(bounds):
            if v <= ub or i == len(bounds) - 1:
                counts[i] += 1
                break
    last = max((i for i, c in enumerate(counts) if c), default=0)
    return [(bounds[i], counts[i]) for i in range(last + 1)]


def _text(x, y, s, size=12, anchor="start", color="#222"):
    s = str(s).replace("&", "&amp;").replace("<", "&lt;")
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}" font-family="sans-serif">{s}</text>'


def _frame(x0, y0, w, h):
    return f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>'


def _log_y(v_ms, lo, hi, y0, h):
    v = min(max(v_ms, lo), hi)
    return y0 + h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * h


def peers_svg(rows, faults, begin, figures):
    lat = [(t, r - t) for _, _, _, t, r, _ in rows if r is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
           '<rect width="100%" height="100%" fill="white"/>',
           _text(20, 24, f"netsim {figures['scenario']}: {figures['peers']} peers on {figures['hosts']} hosts, "
                 f"lost {figures['lost']}, latency p50 {figures['latency']['p50_ms']} ms, p99 {figures['latency']['p99_ms']} ms", 15)]
    # Left: histogram + cumulative line.
    x0, w = 60, 380
    hist = figures["latency_histogram_ms"] or [(1, 0)]
    total = max(1, sum(c for _, c in hist))
    peak = max(1, max(c for _, c in hist))
    bw = w / len(hist)
    out.append(_frame(x0, TOP, w, PANEL_H))
    cum, pts = 0, []
    for i, (ub, c) in enumerate(hist):
        bh = c / peak * PANEL_H
        out.append(f'<rect x="{x0 + i * bw + 1:.1f}" y="{TOP + PANEL_H - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="#4a7ebb"/>')
        cum += c
        pts.append(f"{x0 + (i + 1) * bw:.1f},{TOP + PANEL_H - cum / total * PANEL_H:.1f}")
        label = f"{ub:g}" if ub < 1000 else f"{ub / 1000:g}s"
        out.append(_text(x0 + (i + 1) * bw, TOP + PANEL_H + 14, label, 9, "middle"))
    out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#d08020" stroke-width="2"/>')
    out.append(_text(x0 + w / 2, TOP + PANEL_H + 32, "append -> arrival latency, bucket upper bound (ms)", 11, "middle"))
    out.append(_text(x0, TOP - 6, f"bars: deliveries per bucket (max {peak}); line: cumulative share", 10))
    for share in (0.5, 0.99):
        y = TOP + PANEL_H - share * PANEL_H
        out.append(f'<line x1="{x0}" x2="{x0 + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d08020" stroke-dasharray="3,3"/>')
        out.append(_text(x0 - 4, y + 4, f"{int(share * 100)}%", 9, "end"))
    # Right: latency against append time, log scale.
    x1, w1 = 540, 430
    out.append(_frame(x1, TOP, w1, PANEL_H))
    if lat and begin:
        t_end = max(t for t, _ in lat)
        span = max(1, (t_end - begin))
        lo, hi = 1.0, max(10.0, max(l for _, l in lat) / 1000 * 1.2)
        for kind, t, _ in faults:
            x = x1 + (t - begin) / span * w1
            if kind == "kill" and x1 <= x <= x1 + w1:
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + PANEL_H - 8}" y2="{TOP + PANEL_H}" stroke="#c03030"/>')
        downs = [t for k, t, _ in faults if k == "down"]
        ups = [t for k, t, _ in faults if k == "up"]
        for d, u in zip(downs, ups):
            xa, xb = x1 + (d - begin) / span * w1, x1 + (u - begin) / span * w1
            out.append(f'<rect x="{xa:.1f}" y="{TOP}" width="{xb - xa:.1f}" height="{PANEL_H}" fill="#ccc" opacity="0.5"/>')
        sample = lat if len(lat) <= 6000 else random.Random(1).sample(lat, 6000)
        worst = sorted(lat, key=lambda p: -p[1])[:300]
        for t, l in sample + worst:
            x = x1 + (t - begin) / span * w1
            y = _log_y(max(l, 0) / 1000, lo, hi, TOP, PANEL_H)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.3" fill="#4a7ebb" fill-opacity="0.5"/>')
        v = 1.0
        while v <= hi:
            y = _log_y(v, lo, hi, TOP, PANEL_H)
            out.append(_text(x1 - 4, y + 4, f"{v:g}" if v < 1000 else f"{v / 1000:g}s", 9, "end"))
            v *= 10
        for k in range(6):
            out.append(_text(x1 + k * w1 / 5, TOP + PANEL_H + 14, f"{span / 1e6 * k / 5:.0f}", 9, "middle"))
    out.append(_text(x1 + w1 / 2, TOP + PANEL_H + 32, "appended at (s since start); latency (ms, log); red ticks: kills, grey: partition", 11, "middle"))
    out.append("</svg>")
    return "\n".join(out)


def crowd_svg(results):
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
           '<rect width="100%" height="100%" fill="white"/>',
           _text(20, 24, "netsim crowd: connections held over time", 15)]
    x0, w = 80, 860
    out.append(_frame(x0, TOP, w, PANEL_H))
    span = max([1] + [r["timeline"][-1][0] for r in results if r["timeline"]])
    peak = max([1] + [c for r in results for _, c in r["timeline"]])
    colors = {"rust": "#b7410e", "js": "#4a7ebb"}
    for i, r in enumerate(results):
        pts = " ".join(f"{x0 + s / span * w:.1f},{TOP + PANEL_H - c / peak * PANEL_H:.1f}" for s, c in r["timeline"])
        color = colors.get(r["impl"], "#333")
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(_text(x0 + 10, TOP + 20 + 16 * i, f"{r['impl']}: {r['connections_peak']} held, {r['calls_answered_per_s']} calls/s, "
                         f"{r['rss_per_connection_kib']} KiB each", 12, "start", color))
    for k in range(6):
        out.append(_text(x0 + k * w / 5, TOP + PANEL_H + 14, f"{span * k / 5:.0f}", 9, "middle"))
        out.append(_text(x0 - 4, TOP + PANEL_H - k * PANEL_H / 5 + 4, f"{peak * k / 5:.0f}", 9, "end"))
    out.append(_text(x0 + w / 2, TOP + PANEL_H + 32, "seconds since the crowd started dialling", 11, "middle"))
    out.append("</svg>")
    return "\n".join(out)
