#!/usr/bin/env python3
"""The network simulator's planning and analysis (called by netsim/run.sh; Python 3 stdlib only).

  plan            write the follow graph and one config per peer
  missing         print how many (entry, follower) deliveries are still missing
  report          figures of a peers run: JSON + markdown + SVG, then the one-line summary
  crowd-connected read client event lines on stdin, print the connections up now
  crowd-report    figures of a crowd run: JSON + markdown + SVG, then the one-line summary

Event lines (see examples/support/netsim.rs): `A t author seq` (append), `R t author seq`
(arrival at the file's peer), `F t author seq` (highest entry held at exit), `start`/`stop`.
"""

import argparse
import glob
import json
import os
import random
import sys

import plot

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def host_ip(h):
    return f"10.213.0.{h + 1}"


# ---------------------------------------------------------------------------------------------
# plan


def cmd_plan(a):
    rng = random.Random(a.seed)
    n = a.peers
    follows = {}
    for i in range(n):
        others = [j for j in range(n) if j != i]
        follows[i] = sorted(rng.sample(others, min(a.follows, len(others))))
    graph = {"peers": n, "hosts": a.hosts, "follows": {str(i): f for i, f in follows.items()}}
    with open(os.path.join(a.run, "graph.json"), "w") as f:
        json.dump(graph, f)
    for i in range(n):
        config = {
            "index": i,
            "host": host_ip(i % a.hosts),
            "port": 9000 + i,
            "dir": os.path.join(a.run, f"p{i}"),
            "events": os.path.join(a.run, f"p{i}.events"),
            "follows": [{"index": j, "host": host_ip(j % a.hosts), "port": 9000 + j} for j in follows[i]],
            "appendIntervalMs": 1000,
            "appendFromUs": a.append_from_us,
            "appendUntilUs": a.append_until_us,
            "pollIntervalMs": a.poll_ms,
            "contentBytes": 64,
        }
        with open(os.path.join(a.run, f"p{i}.json"), "w") as f:
            json.dump(config, f)


# ---------------------------------------------------------------------------------------------
# reading a peers run


class Run:
    """Everything the peers and the harness logged."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "graph.json")) as f:
            graph = json.load(f)
        self.peers = graph["peers"]
        self.hosts = graph["hosts"]
        self.follows = {int(i): f for i, f in graph["follows"].items()}
        self.followers = {i: [] for i in range(self.peers)}
        for f, authors in self.follows.items():
            for a in authors:
                self.followers[a].append(f)
        self.appended = {}  # (author, seq) -> t
        self.arrived = {}  # (follower, author, seq) -> first t
        self.held = {}  # (follower, author) -> highest seq held at any exit
        self.starts = 0
        for i in range(self.peers):
            self._read(i, os.path.join(path, f"p{i}.events"))
        self.faults = []
        fpath = os.path.join(path, "faults")
        if os.path.exists(fpath):
            with open(fpath) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        self.faults.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""))

    def _read(self, me, path):
        if not os.path.exists(path):
            return
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                kind, t, a, s = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
                if kind == "A":
                    self.appended.setdefault((a, s), t)
                elif kind == "R":
                    self.arrived.setdefault((me, a, s), t)
                elif kind == "F":
                    key = (me, a)
                    self.held[key] = max(self.held.get(key, 0), s)
                elif kind == "start":
                    self.starts += 1

    def fault_time(self, name):
        times = [t for kind, t, _ in self.faults if kind == name]
        return times[0] if times else None

    def deliveries(self):
        """(author, seq, follower, append t, arrival t or None, held at exit)."""
        for (a, s), t in self.appended.items():
            for f in self.followers[a]:
                r = self.arrived.get((f, a, s))
                yield a, s, f, t, r, self.held.get((f, a), 0) >= s

    def missing(self):
        return sum(1 for *_, r, held in self.deliveries() if r is None and not held)


def cmd_missing(a):
    print(Run(a.run).missing())


# ---------------------------------------------------------------------------------------------
# figures


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def ms(us):
    return None if us is None else round(us / 1000, 1)


def latency_table(latencies_us):
    v = sorted(max(0, x) for x in latencies_us)
    return {
        "count": len(v),
        "p50_ms": ms(percentile(v, 50)),
        "p95_ms": ms(percentile(v, 95)),
        "p99_ms": ms(percentile(v, 99)),
        "max_ms": ms(v[-1] if v else None),
    }


def proc_figures(run):
    """Per-peer CPU % (since the process started), RSS and bytes sent per second."""
    procs = []
    path = os.path.join(run.path, "procs")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) < 7:
                    continue
                i, ticks, started, rss_kib, uptime = int(p[0]), int(p[2]) + int(p[3]), int(p[4]), int(p[5]), float(p[6])
                age = max(0.001, uptime - started / CLK_TCK)
                procs.append({"peer": i, "cpu_pct": round(100 * ticks / CLK_TCK / age, 2), "rss_mib": round(rss_kib / 1024, 1)})
    sent = {}
    try:
        begin = dict(line.split() for line in open(os.path.join(run.path, "bytes.begin")))
        end = dict(line.split() for line in open(os.path.join(run.path, "bytes.end")))
        span = (run.fault_time("append-stop") - run.fault_time("begin")) / 1e6
        for h in begin:
            on_host = len([i for i in range(run.peers) if i % run.hosts == int(h)])
            sent[int(h)] = (int(end[h]) - int(begin[h])) / span / max(1, on_host)
    except (OSError, KeyError, TypeError, ValueError):
        pass
    return procs, sent


def spread(values):
    v = sorted(values)
    if not v:
        return {}
    return {"p50": percentile(v, 50), "max": v[-1], "mean": round(sum(v) / len(v), 2)}


def cmd_report(a):
    run = Run(a.run)
    rows = list(run.deliveries())
    lost_pairs = [(au, s, f) for au, s, f, t, r, held in rows if r is None and not held]
    lost_entries = {(au, s) for au, s, _ in lost_pairs}
    held_only = sum(1 for *_, r, held in rows if r is None and held)
    lat = [r - t for _, _, _, t, r, _ in rows if r is not None]
    begin = run.fault_time("begin")
    stop = run.fault_time("append-stop")
    settled = run.fault_time("settled")
    figures = {
        "scenario": a.scenario,
        "peers": run.peers,
        "hosts": run.hosts,
        "follows_each": round(sum(len(f) for f in run.follows.values()) / max(1, run.peers), 1),
        "appended": len(run.appended),
        "deliveries_expected": len(rows),
        "deliveries_logged": len(lat),
        "delivered_without_arrival_line": held_only,
        "lost": len(lost_pairs),
        "lost_entries": len(lost_entries),
        "lost_sample": lost_pairs[:20],
        "latency": latency_table(lat),
        "process_starts": run.starts,
        "kills": sum(1 for k, *_ in run.faults if k == "kill"),
        "appending_s": round((stop - begin) / 1e6, 1) if begin and stop else None,
        "settle_s": round((settled - stop) / 1e6, 1) if settled and stop else None,
    }
    last_arrival = max((r for *_, r, _ in rows if r is not None), default=None)
    churn_stop = run.fault_time("churn-stop")
    if churn_stop:
        figures["churn_s"] = round((churn_stop - begin) / 1e6, 1)
        late = [r for _, _, _, t, r, _ in rows if r is not None and t < churn_stop]
        figures["converged_after_churn_s"] = round(max(0, max(late, default=churn_stop) - churn_stop) / 1e6, 2)
    up = run.fault_time("up")
    if up:
        cut = int(next(x for k, _, x in run.faults if k == "down"))
        down = run.fault_time("down")
        across = [r for au, _, f, t, r, _ in rows if r is not None and t < up and ((au % run.hosts == cut) != (f % run.hosts == cut))]
        figures["partition"] = {"host": cut, "down_s": round((up - down) / 1e6, 1), "caught_up_after_s": round(max(0, max(across, default=up) - up) / 1e6, 2)}
    if last_arrival and stop:
        figures["last_arrival_after_append_stop_s"] = round((last_arrival - stop) / 1e6, 2)
    procs, sent = proc_figures(run)
    figures["cpu_pct_per_peer"] = spread([p["cpu_pct"] for p in procs])
    figures["rss_mib_per_peer"] = spread([p["rss_mib"] for p in procs])
    figures["bytes_sent_per_s_per_peer"] = spread([round(v) for v in sent.values()])
    figures["latency_histogram_ms"] = plot.histogram([x / 1000 for x in lat])
    figures["per_peer"] = procs
    figures["bytes_sent_per_s_per_peer_by_host"] = {str(h): round(v) for h, v in sorted(sent.items())}
    write_outputs(a.out, figures, markdown(figures), plot.peers_svg(rows, run.faults, begin, figures))
    print(summary(figures))
    if figures["lost"]:
        sys.exit(1)


def summary(f):
    l = f["latency"]
    text = (f"netsim {f['scenario']}: {f['peers']} peers on {f['hosts']} hosts, {f['appended']} entries appended, "
            f"{f['deliveries_expected'] - f['lost']}/{f['deliveries_expected']} deliveries, lost {f['lost']}; "
            f"latency p50 {l['p50_ms']} ms p99 {l['p99_ms']} ms max {l['max_ms']} ms")
    if "converged_after_churn_s" in f:
        text += f"; {f['kills']} kills, converged {f['converged_after_churn_s']} s after churn stopped"
    if "partition" in f:
        text += f"; host {f['partition']['host']} caught up {f['partition']['caught_up_after_s']} s after its link came back"
    return text


def markdown(f):
    l = f["latency"]
    lines = [
        f"# netsim {f['scenario']}",
        "",
        f"{f['peers']} peers on {f['hosts']} hosts, each following {f['follows_each']}, one entry per second each "
        f"for {f['appending_s']} s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| entries appended | {f['appended']} |",
        f"| deliveries expected (entry × follower) | {f['deliveries_expected']} |",
        f"| **lost** | **{f['lost']}** ({f['lost_entries']} entries) |",
        f"| arrivals logged / held at exit without a line | {f['deliveries_logged']} / {f['delivered_without_arrival_line']} |",
        f"| latency p50 / p95 / p99 / max | {l['p50_ms']} / {l['p95_ms']} / {l['p99_ms']} / {l['max_ms']} ms |",
        f"| process starts / kills | {f['process_starts']} / {f['kills']} |",
        f"| CPU per peer p50 / max | {f['cpu_pct_per_peer'].get('p50')} / {f['cpu_pct_per_peer'].get('max')} % of a core |",
        f"| RSS per peer p50 / max | {f['rss_mib_per_peer'].get('p50')} / {f['rss_mib_per_peer'].get('max')} MiB |",
        f"| bytes sent per peer per s (per host mean) p50 / max | {f['bytes_sent_per_s_per_peer'].get('p50')} / {f['bytes_sent_per_s_per_peer'].get('max')} |",
    ]
    if "converged_after_churn_s" in f:
        lines.append(f"| churn | {f['churn_s']} s, {f['kills']} kills: every follower had every entry {f['converged_after_churn_s']} s after it stopped |")
    if "partition" in f:
        p = f["partition"]
        lines.append(f"| partition | host {p['host']} cut off {p['down_s']} s; caught up {p['caught_up_after_s']} s after its link came back |")
    if "last_arrival_after_append_stop_s" in f:
        lines.append(f"| last arrival after appending stopped | {f['last_arrival_after_append_stop_s']} s |")
    lines += ["", summary(f), ""]
    return "\n".join(lines)


def write_outputs(out, figures, md, svg):
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    figures["picture"] = os.path.basename(out) + ".svg"
    with open(out + ".json", "w") as f:
        json.dump(figures, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write(md)
        f.write(f"\nPicture: [{figures['picture']}]({figures['picture']}); raw figures: {os.path.basename(out)}.json\n")
    with open(out + ".svg", "w") as f:
        f.write(svg)


# ---------------------------------------------------------------------------------------------
# crowd


def crowd_series(paths):
    """Per client file: list of (t, connected, dial failures, answered, errors)."""
    series = []
    for p in paths:
        rows = []
        with open(p) as f:
            for line in f:
                x = line.split()
                if x and x[0] == "S" and len(x) >= 6:
                    rows.append(tuple(int(v) for v in x[1:6]))
        series.append(rows)
    return series


def cmd_crowd_connected(_):
    last = {}
    for line in sys.stdin:
        x = line.split()
        if x and x[0] == "start":
            last[x[3]] = 0
            pid = x[3]
        elif x and x[0] == "S" and len(x) >= 3:
            last[pid] = int(x[2])
    print(sum(last.values()))


def crowd_impl(run, impl):
    d = os.path.join(run, f"crowd-{impl}")
    if not os.path.isdir(d):
        return None
    samples = {}
    with open(os.path.join(d, "node.samples")) as f:
        for line in f:
            x = line.split()
            samples[x[0]] = {"t": int(x[1]), "rss_kib": int(x[2]), "ticks": int(x[3]) + int(x[4])}
    series = crowd_series(sorted(glob.glob(os.path.join(d, "clients-*.events"))))
    # Total connected per second (the clients report once a second each).
    timeline = {}
    for rows in series:
        for t, c, fails, ans, err in rows:
            sec = t // 1_000_000
            timeline.setdefault(sec, [0, 0, 0, 0])
            for k, v in enumerate((c, fails, ans, err)):
                timeline[sec][k] += v
    secs = sorted(timeline)
    peak = max((timeline[s][0] for s in secs), default=0)
    start = secs[0] if secs else 0
    full_at = next((s for s in secs if timeline[s][0] >= 0.99 * peak), start)
    base, full, end = samples["base"], samples.get("full"), samples.get("end")
    connected_full = peak
    steady_s = (end["t"] - full["t"]) / 1e6 if full and end else 0

    def totals_at(t_us):
        tot = [0, 0, 0, 0]
        for rows in series:
            before = [r for r in rows if r[0] <= t_us]
            if before:
                for k in range(4):
                    tot[k] += before[-1][k + 1]
        return tot

    a0, a1 = totals_at(full["t"]), totals_at(end["t"])
    return {
        "impl": impl,
        "connections_peak": peak,
        "ramp_s": full_at - start + 1,
        "accept_rate_per_s": round(peak / max(1, full_at - start + 1)),
        "accept_rate_peak_per_s": max((timeline[b][0] - timeline[a][0] for a, b in zip(secs, secs[1:])), default=0),
        "rss_base_mib": round(base["rss_kib"] / 1024, 1),
        "rss_full_mib": round(end["rss_kib"] / 1024, 1),
        "rss_per_connection_kib": round((end["rss_kib"] - base["rss_kib"]) / max(1, connected_full), 1),
        "calls_answered_per_s": round((a1[2] - a0[2]) / max(0.001, steady_s)),
        "calls_expected_per_s": connected_full,
        "call_errors": a1[3],
        "dial_failures": a1[1],
        "node_cpu_pct_steady": round(100 * (end["ticks"] - full["ticks"]) / CLK_TCK / max(0.001, steady_s), 1),
        "steady_s": round(steady_s, 1),
        "timeline": [(s - start, timeline[s][0]) for s in secs],
    }


def cmd_crowd_report(a):
    results = [r for r in (crowd_impl(a.run, impl) for impl in ("rust", "js")) if r]
    keys = [("connections_peak", "connections held"), ("ramp_s", "ramp to all connected (s)"),
            ("accept_rate_per_s", "accept rate, mean over the ramp (/s)"), ("accept_rate_peak_per_s", "accept rate, best second (/s)"),
            ("rss_base_mib", "node RSS before (MiB)"), ("rss_full_mib", "node RSS with the crowd (MiB)"),
            ("rss_per_connection_kib", "RSS per connection (KiB)"), ("calls_answered_per_s", "calls answered per s"),
            ("calls_expected_per_s", "calls asked per s (1 per connection)"), ("node_cpu_pct_steady", "node CPU while answering (% of a core)"),
            ("call_errors", "call errors"), ("dial_failures", "failed dials (retried)")]
    lines = ["# netsim crowd", "", "One node on host 0; the crowd dials from the other hosts, one identity per connection, "
             "each connection calling `test.hello` once a second.", "",
             "| figure | " + " | ".join(r["impl"] for r in results) + " |", "|---|" + "---|" * len(results)]
    for k, label in keys:
        lines.append(f"| {label} | " + " | ".join(str(r[k]) for r in results) + " |")
    figures = {"scenario": "crowd", "hosts": a.hosts, "results": results}
    line = "netsim crowd: " + "; ".join(
        f"{r['impl']} {r['connections_peak']} connections, {r['accept_rate_per_s']} accepts/s, "
        f"{r['rss_per_connection_kib']} KiB/connection, {r['calls_answered_per_s']} calls answered/s"
        for r in results)
    ours = next((r for r in results if r["impl"] == "rust"), None)
    # A crowd appends nothing: what it can lose is calls, asked and never answered.
    line += f"; lost {ours['call_errors'] if ours else 'n/a'} calls (ours)"
    lines += ["", line, ""]
    write_outputs(a.out, figures, "\n".join(lines), plot.crowd_svg(results))
    print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("plan")
    for name in ("peers", "hosts", "follows", "seed", "poll-ms", "append-from-us", "append-until-us"):
        s.add_argument("--" + name, type=int, required=True)
    s.add_argument("--run", required=True)
    s = sub.add_parser("missing")
    s.add_argument("--run", required=True)
    s = sub.add_parser("report")
    s.add_argument("--run", required=True)
    s.add_argument("--scenario", required=True)
    s.add_argument("--hosts", type=int)
    s.add_argument("--out", required=True)
    sub.add_parser("crowd-connected")
    s = sub.add_parser("crowd-report")
    s.add_argument("--run", required=True)
    s.add_argument("--hosts", type=int)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    {"plan": cmd_plan, "missing": cmd_missing, "report": cmd_report,
     "crowd-connected": cmd_crowd_connected, "crowd-report": cmd_crowd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
