#!/usr/bin/env python3
"""Check a Grafana dashboard against the metrics the processors actually export.

* the file is valid JSON with a uid, a title and panels;
* panel ids are unique integers (rows and the panels nested in collapsed rows included);
* every non-row panel has at least one query, every query references at least one ``examgate_``
  metric, and every ``examgate_`` name it uses is one stream_processors/metrics.py defines
  (a Histogram ``h`` exports ``h_bucket``, ``h_count`` and ``h_sum``; a Counter exports its name);
* with ``--promtool``, every query parses as PromQL (Grafana's variables substituted).

    check_dashboard.py DASHBOARD.json --metrics stream_processors/metrics.py [--promtool BIN]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

METRIC_CLASSES = {"Counter": ("",), "Gauge": ("",), "Histogram": ("_bucket", "_count", "_sum"),
                  "Summary": ("", "_count", "_sum")}
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Grafana's variables, replaced by something PromQL accepts in the same position.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "${gate}": ".*",
             "$gate": ".*"}


def exported_series(metrics_py: Path) -> set[str]:
    """Series names the prometheus_client metrics in a module expose."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(metrics_py.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in METRIC_CLASSES and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            base = node.args[0].value
            names.update(base + suffix for suffix in METRIC_CLASSES[node.func.id])
    return names


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panels in order, with those nested in (collapsed) rows."""
    out: list[dict[str, Any]] = []
    for panel in panels:
        out.append(panel)
        out.extend(all_panels(panel.get("panels", [])))
    return out


def metric_names(expr: str) -> set[str]:
    """Identifiers in a query that look like ExamGate metric names (label values excluded)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return {n for n in NAME.findall(without_strings) if n.startswith("examgate_")}


def check(dashboard: dict[str, Any], exported: set[str]) -> tuple[list[str], list[str]]:
    """Problems found, and every query (for the PromQL syntax check)."""
    problems: list[str] = []
    queries: list[str] = []
    for key in ("uid", "title", "panels"):
        if key not in dashboard:
            problems.append(f"dashboard has no {key!r}")
    seen: dict[int, str] = {}
    for panel in all_panels(dashboard.get("panels", [])):
        title = panel.get("title", "?")
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.append(f"panel {title!r}: id {pid!r} is not an integer")
        elif pid in seen:
            problems.append(f"panel {title!r}: id {pid} already used by {seen[pid]!r}")
        else:
            seen[pid] = title
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        for target in targets:
            expr = target.get("expr", "")
            used = metric_names(expr)
            if not used:
                problems.append(f"panel {title!r}: query {expr!r} uses no examgate_ metric")
            for name in sorted(used - exported):
                problems.append(f"panel {title!r}: {name} is not exported by the processors")
            queries.append(expr)
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            for name in sorted(metric_names(text) - exported):
                problems.append(f"variable {var.get('name')!r}: {name} is not exported")
    return problems, queries


def promql_problems(queries: list[str], promtool: str) -> list[str]:
    """Parse each query with promtool (as a recording rule); return its complaints."""
    rules = []
    for i, expr in enumerate(queries):
        for var, value in VARIABLES.items():
            expr = expr.replace(var, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)  # JSON is YAML
    result = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    Path(f.name).unlink()
    if result.returncode == 0:
        return []
    return [f"PromQL: {line}" for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "Checking" not in line]


def main(argv: list[str] | None = None) -> int:
    """Check the dashboard; print problems; exit 1 if any."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dashboard", type=Path)
    parser.add_argument("--metrics", type=Path, required=True,
                        help="the module that defines the exported metrics")
    parser.add_argument("--promtool", help="promtool binary, to parse every query")
    args = parser.parse_args(argv)
    try:
        dashboard = json.loads(args.dashboard.read_text())
    except json.JSONDecodeError as exc:
        print(f"{args.dashboard}: not valid JSON: {exc}", file=sys.stderr)
        return 1
    exported = exported_series(args.metrics)
    if not exported:
        print(f"{args.metrics}: no metrics found", file=sys.stderr)
        return 1
    problems, queries = check(dashboard, exported)
    if args.promtool:
        problems += promql_problems(queries, args.promtool)
    for problem in problems:
        print(f"{args.dashboard}: {problem}", file=sys.stderr)
    panels = [p for p in all_panels(dashboard.get("panels", [])) if p.get("type") != "row"]
    print(f"{args.dashboard.name}: {len(panels)} panels, {len(queries)} queries, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
