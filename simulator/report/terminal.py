"""The report as tables in the terminal (rich)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from simulator.report.render import fmt_ms, fmt_rate

_COLUMNS = ["slice", "n", "FAR % [95% CI]", "FRR % [95% CI]", "review %", "not acc. %",
            "p95 ms"]


def _short(r: Mapping[str, Any] | None, ci: bool = True) -> str:
    """``"10.5 [6.9-15.6]"`` (percent), or a dash."""
    if not r or r.get("rate") is None:
        return "-"
    text = f"{100 * r['rate']:.1f}"
    if ci:
        lo, hi = r["ci95"]
        text += f" [{100 * lo:.1f}-{100 * hi:.1f}]"
    return text


def _table(title: str, groups: Mapping[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, h in enumerate(_COLUMNS):
        if i == 0:
            table.add_column(h, min_width=12, overflow="fold")
        else:
            table.add_column(h, justify="right")
    for name, entry in groups.items():
        s = entry["all"]
        g = s["genuine"]
        table.add_row(name, str(s["n"]), _short(s["non_genuine"]["far"]), _short(g["frr"]),
                      _short(g["review_rate"], ci=False), _short(g["not_accepted"], ci=False),
                      fmt_ms(s["latency_ms"]["p95"]))
    return table


def pad_table(pad: Mapping[str, Any], title: str = "Presentation attacks (ISO/IEC 30107-3)"
              ) -> Table:
    """APCER and outcomes per attack type, then BPCER on clean genuine check-ins."""
    if not pad["attempts"]:
        title += ": no attacks in this scenario"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_header=bool(pad["attempts"]))
    table.add_column("attack type", min_width=12, overflow="fold")
    for h in ("family", "n", "APCER % [95% CI]", "ACCEPT", "REVIEW", "REJECT"):
        table.add_column(h, justify="right")
    for name, n in pad["attempts"].items():
        o = pad["outcomes"][name]
        accepted = f"[red]{o['accept']}[/]" if o["accept"] else "0"
        table.add_row(name, pad["family"][name], str(n), _short(pad["apcer"][name]), accepted,
                      str(o["review"]), str(o["reject"]))
    table.caption = (f"BPCER (clean genuine not LIVE) {fmt_rate(pad['bpcer'])}: "
                     f"REVIEW {fmt_rate(pad['bpcer_review'])}, "
                     f"REJECT {fmt_rate(pad['bpcer_reject'])}"
                     + (f"; {pad['unjudged']} without a liveness record" if pad["unjudged"]
                        else ""))
    table.caption_justify = "left"
    return table


def print_summary(report: Mapping[str, Any], console: Console | None = None) -> None:
    """Print the headline numbers, the per-condition, per-gender and PAD tables."""
    console = console or Console()
    s = report["summary"]
    lat, thr, lag = s["latency_ms"], s["throughput"], s["lag"]
    missing = f"[{'red' if s['missing'] else 'green'}]{s['missing']} missing[/]"
    console.print(f"[bold]{s['checkins']}[/] check-ins, {s['decided']} decided, {missing}; "
                  f"FAR {fmt_rate(s['far'])}, FRR {fmt_rate(s['frr'])}, "
                  f"not accepted {fmt_rate(s['not_accepted'])}")
    pcts = " / ".join(fmt_ms(lat[k]) for k in ("p50", "p95", "p99"))
    peak_lag = "-" if lag["peak"] is None else f"{lag['peak']:.0f}"
    console.print(f"latency p50/p95/p99 {pcts} ms; throughput {thr['per_s'] or 0:.1f}/s "
                  f"(peak {thr['peak_per_s'] or 0}/s); peak lag {peak_lag}; "
                  f"intervals: 95% {s['ci_method']}")
    console.print(_table("By condition", report["by_condition"]))
    console.print(_table("By gender", report["by_gender"]))
    if report.get("pad"):
        console.print(pad_table(report["pad"]))
    per = report.get("per_transaction")
    if per:
        worst = per["pad"]["apcer_max"]
        console.print(
            f"with {per['second_looks']} second look(s), per transaction: FAR "
            f"{fmt_rate(per['far'])}, FRR {fmt_rate(per['frr'])}, genuine not accepted "
            f"{fmt_rate(per['not_accepted'])}, BPCER {fmt_rate(per['pad']['bpcer'])}, "
            f"worst APCER {fmt_rate(worst) if worst else '-'}")
    shadow = report.get("shadow")
    if shadow:
        champ, chall = shadow["champion"], shadow["challenger"]
        console.print(
            f"shadow: challenger {', '.join(shadow['challenger_models']) or '?'} agrees on "
            f"{fmt_rate(shadow['agreement'])} of decisions; "
            f"FAR {fmt_rate(chall['non_genuine']['far'])} "
            f"(champion {fmt_rate(champ['non_genuine']['far'])}), "
            f"FRR {fmt_rate(chall['genuine']['frr'])} "
            f"(champion {fmt_rate(champ['genuine']['frr'])})")
