"""Writing a report: JSON, a self-contained HTML page with embedded PNGs, and the rows as CSV."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.report import plots
from simulator.report.compute import LagSample
from simulator.report.rows import ResultRow, as_rows


def fmt_rate(r: Mapping[str, Any] | None) -> str:
    """``"2.0% [0.6-7.0] (2/100)"``, or an en dash when there is nothing to rate."""
    if not r or r.get("rate") is None:
        return "\u2013"
    lo, hi = r["ci95"]
    return f"{r['rate']:.1%} [{lo:.1%}\u2013{hi:.1%}] ({r['k']}/{r['n']})"


def fmt_ms(x: float | None) -> str:
    """Milliseconds, or an en dash."""
    return "\u2013" if x is None else f"{x:.0f}"


def condition_rows(groups: Mapping[str, Any]) -> list[list[str]]:
    """Table cells for a ``by_*`` group: name, n, FAR, FRR, review, not accepted, p95."""
    out = []
    for name, entry in groups.items():
        s = entry["all"]
        out.append([name, str(s["n"]), fmt_rate(s["non_genuine"]["far"]),
                     fmt_rate(s["genuine"]["frr"]), fmt_rate(s["genuine"]["review_rate"]),
                     fmt_rate(s["genuine"]["not_accepted"]), fmt_ms(s["latency_ms"]["p95"])])
    return out


HEADERS = ["slice", "n", "FAR (ACCEPT | not genuine)", "FRR (REJECT | genuine)",
           "review (genuine)", "not accepted (genuine)", "p95 ms"]


def _table(headers: list[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gender_rows(report: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for cond, entry in report["by_condition"].items():
        for gender, s in entry["by_gender"].items():
            out.append([f"{cond} / {gender}", str(s["n"]), fmt_rate(s["non_genuine"]["far"]),
                        fmt_rate(s["genuine"]["frr"]), fmt_rate(s["genuine"]["review_rate"]),
                        fmt_rate(s["genuine"]["not_accepted"]), fmt_ms(s["latency_ms"]["p95"])])
    return out


def _reason_table(report: Mapping[str, Any]) -> str:
    reasons = sorted({r for e in report["by_condition"].values() for r in e["all"]["reasons"]})
    rows = [[cond, *(str(e["all"]["reasons"].get(r, 0)) for r in reasons)]
            for cond, e in report["by_condition"].items()]
    return _table(["condition", *reasons], rows)


def _shadow_html(shadow: Mapping[str, Any] | None) -> str:
    if not shadow:
        return "<p>No shadow scores in this run.</p>"
    rows = [[c, fmt_rate(v["champion"]["far"]), fmt_rate(v["challenger"]["far"]),
             fmt_rate(v["champion"]["frr"]), fmt_rate(v["challenger"]["frr"])]
            for c, v in shadow["by_condition"].items()]
    champ, chall = shadow["champion"], shadow["challenger"]
    rows.append(["all", fmt_rate(champ["non_genuine"]["far"]),
                 fmt_rate(chall["non_genuine"]["far"]), fmt_rate(champ["genuine"]["frr"]),
                 fmt_rate(chall["genuine"]["frr"])])
    moves = ", ".join(f"{k}: {v}" for k, v in shadow["transitions"].items())
    return (f"<p>Champion {html.escape(', '.join(shadow['champion_models']) or '?')} vs "
            f"challenger {html.escape(', '.join(shadow['challenger_models']) or '?')} on "
            f"{shadow['n']} check-ins; same outcome {fmt_rate(shadow['agreement'])}.</p>"
            f"<p>Outcome changes (champion-&gt;challenger): {html.escape(moves)}</p>"
            + _table(["condition", "FAR champion", "FAR challenger", "FRR champion",
                      "FRR challenger"], rows))


def _pad_html(pad: Mapping[str, Any] | None) -> str:
    if not pad or not (pad["attempts"] or pad["bpcer"]["n"]):
        return "<p>No presentation attacks or liveness records in this run.</p>"
    rows = [[name, pad["family"][name], str(n), fmt_rate(pad["apcer"][name]),
             str(pad["outcomes"][name]["accept"]), str(pad["outcomes"][name]["review"]),
             str(pad["outcomes"][name]["reject"]),
             ", ".join(f"{v} {k}" for k, v in pad["verdicts"][name].items() if v)]
            for name, n in pad["attempts"].items()]
    worst = pad["apcer_max"]
    bona = [["BPCER (clean genuine, liveness not LIVE)", fmt_rate(pad["bpcer"])],
            ["BPCER as REVIEW (LIVENESS_UNCERTAIN)", fmt_rate(pad["bpcer_review"])],
            ["BPCER as REJECT (PRESENTATION_ATTACK)", fmt_rate(pad["bpcer_reject"])],
            ["APCER, worst attack type", f"{worst['attack']}: {fmt_rate(worst)}"
             if worst else "\u2013"],
            ["decided without a liveness record", str(pad["unjudged"])]]
    return (_table(["attack type", "family", "n", "APCER (liveness LIVE)", "ACCEPT", "REVIEW",
                    "REJECT", "liveness verdicts"], rows)
            + _table(["measure", "value"], bona))


def _second_look_html(per: Mapping[str, Any] | None) -> str:
    if not per:
        return "<p>No second looks in this run (the gates offered none, or none was due).</p>"
    pad = per["pad"]
    worst = pad["apcer_max"]
    rows = [["second looks sent", str(per["second_looks"])],
            ["taken, by condition", ", ".join(f"{k} {v}" for k, v in
                                              per["taken_by_condition"].items())],
            ["FAR per transaction", fmt_rate(per["far"])],
            ["FRR per transaction", fmt_rate(per["frr"])],
            ["not accepted (genuine) per transaction", fmt_rate(per["not_accepted"])],
            ["BPCER per transaction", fmt_rate(pad["bpcer"])],
            ["APCER per transaction, worst attack type",
             f"{worst['attack']}: {fmt_rate(worst)}" if worst else "\u2013"]]
    return ("<p>A check-in refused only for lacking a head's motion was sent again after "
            "the prompt to turn; each transaction is judged by its last attempt.</p>"
            + _table(["measure", "value"], rows))


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}"""


def render_html(report: Mapping[str, Any], figures: Mapping[str, bytes | None],
                title: str = "ExamGate online evaluation") -> str:
    """The report page; ``figures`` (name -> PNG bytes) are embedded as data URIs."""
    s = report["summary"]
    lat, thr, lag = s["latency_ms"], s["throughput"], s["lag"]
    summary = [["check-ins", str(s["checkins"])], ["decided", str(s["decided"])],
               ["missing decisions", str(s["missing"])], ["FAR", fmt_rate(s["far"])],
               ["FRR", fmt_rate(s["frr"])], ["review (genuine)", fmt_rate(s["review_rate"])],
               ["not accepted (genuine)", fmt_rate(s["not_accepted"])],
               ["latency p50 / p95 / p99 ms",
                " / ".join(fmt_ms(lat[k]) for k in ("p50", "p95", "p99"))],
               ["throughput (decisions/s, mean / peak)",
                f"{thr['per_s'] or 0:.1f} / {thr['peak_per_s'] or 0}"],
               ["peak consumer lag", "\u2013" if lag["peak"] is None else f"{lag['peak']:.0f}"],
               ["intervals", f"95% {s['ci_method']}"],
               ["models", ", ".join(s["model_versions"]) or "\u2013"]]
    imgs = "".join(
        f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        for name, png in figures.items() if png)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2>", _table(["measure", "value"], summary),
        "<h2>By condition</h2>", _table(HEADERS, condition_rows(report["by_condition"])),
        "<h2>By probe kind</h2>", _table(HEADERS, condition_rows(report["by_probe_kind"])),
        "<h2>By gender</h2>", _table(HEADERS, condition_rows(report["by_gender"])),
        "<h2>Condition by gender</h2>", _table(HEADERS, _gender_rows(report)),
        "<h2>Reason codes</h2>", _reason_table(report),
        "<h2>Presentation attacks (ISO/IEC 30107-3)</h2>", _pad_html(report.get("pad")),
        "<h2>Second looks: per transaction</h2>",
        _second_look_html(report.get("per_transaction")),
        "<h2>Champion vs challenger</h2>", _shadow_html(report.get("shadow")),
        "<h2>Figures</h2>", imgs or "<p>No figures (no scores, times or lag samples).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(report: Mapping[str, Any], rows: Iterable[ResultRow | Mapping[str, Any]],
                 lag_series: Iterable[LagSample] | None, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` (with figures) and ``rows.csv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rs = as_rows(rows)
    first = [r for r in rs if not r.second_look_of]  # latency and scores: first attempts
    lag = [(float(p["t"]), float(p["lag"])) if isinstance(p, Mapping)
           else (float(p[0]), float(p[1])) for p in (lag_series or [])]
    figures = {"DET curves": plots.det_figure(first),
               "Latency over time": plots.latency_figure(first),
               "Consumer lag over time": plots.lag_figure(lag)}
    paths = {"json": out / "report.json", "html": out / "report.html", "csv": out / "rows.csv"}
    paths["json"].write_text(json.dumps(report, indent=2, sort_keys=False), encoding="utf-8")
    paths["html"].write_text(render_html(report, figures), encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ResultRow.model_fields))
        writer.writeheader()
        for r in rs:
            writer.writerow(r.model_dump())
    return paths
