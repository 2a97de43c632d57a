"""The compliance report of a variant: a terminal table, `report.json`, and `report.html` — one
section per output (every rule is measured on every output, in its own geometry), each with that
output's image and the clear-space box, the safe zone and a heat map of pixels failing a colour rule
drawn over it, in one self-contained file that works offline.
"""

from __future__ import annotations

import base64
import html
import json


STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}


def summary(results: list[dict]) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0, "skipped": 0}
    for r in results:
        counts[r.get("status", "skipped")] = counts.get(r.get("status", "skipped"), 0) + 1
    return counts


def table(variant: str, results: list[dict], console) -> None:
    """Rule, target, measured, status — one row per rule and output that did not pass; a variant
    whose every rule passed is one line (its report.html has the whole table)."""
    from rich.table import Table

    passed = [r for r in results if r.get("status") == "pass"]
    outputs = sorted({r["output"] for r in results if r.get("output")})
    where = f" on {len(outputs)} output{'s' * (len(outputs) != 1)}" if outputs else ""
    if len(passed) == len(results):
        console.print(f"brand checks: {variant}: all {len(results)} passed{where}")
        return
    results = [r for r in results if r.get("status") != "pass"]

    t = Table(title=f"brand checks: {variant}", title_justify="left")
    outputs = any(r.get("output") for r in results)
    for col in (("output",) if outputs else ()) + ("rule", "target", "measured", "status"):
        t.add_column(col)
    last = None
    for r in sorted(results, key=lambda r: r.get("output") or "") if outputs else results:
        name = r["rule"] + (f" {r['component']}" if r.get("component") else "")
        first = ((r.get("output") or "") if r.get("output") != last else "",) if outputs else ()
        last = r.get("output")
        measured = "—" if r.get("measured") is None else f"{r['measured']} {r.get('unit', '')}".strip()
        status = r.get("status", "skipped")
        t.add_row(*first, name, r.get("target", ""), measured, f"[{STATUS_STYLE.get(status, '')}]{status}[/]")
    console.print(t)
    if passed:
        console.print(f"  and {len(passed)} passed{where} (all of them in report.html)")
    for r in results:
        if r.get("fix"):
            console.print(f"  fix for {_name(r)}: [bold]{r['fix']}[/]")
        for note in ([r["note"]] if r.get("note") else []) + r.get("notes", []):
            console.print(f"  note ({_name(r)}): {note}")


def _name(r: dict) -> str:
    """A result as a sentence names it: rule, component, and the output it was measured on."""
    return r["rule"] + (f" {r['component']}" if r.get("component") else "") + (f" in {r['output']}" if r.get("output") else "")


def report_json(variant: dict, results: list[dict]) -> bytes:
    clean = [{k: v for k, v in r.items() if k != "heatmap"} for r in results]
    doc = {"variant": variant["name"], "canvas": variant["canvas"], "summary": summary(results), "checks": clean}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def report_html(variant: dict, results: list[dict], images: dict[str | None, tuple[bytes, str, tuple[int, int]]]) -> bytes:
    """One HTML file: for each output (None: the canvas of a brief without outputs), its image (the
    delivered bytes, their MIME type and size) with overlays (SVG) and its table; no network needed."""
    sections, toggles_all = [], 0
    for output, (data, mime, size) in images.items():
        mine = [r for r in results if r.get("output") == output]
        section, toggles_all = _section(output, mine, data, mime, size, toggles_all)
        sections.append(section)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>brief report: {html.escape(variant['name'])}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin-top:1em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.pass td:nth-child(4){{color:#2a2}}
tr.warn td:nth-child(4){{color:#b80}}tr.fail td:nth-child(4){{color:#d33;font-weight:bold}}
.stage{{position:relative;max-width:100%}}svg{{max-width:100%;height:auto;border:1px solid #ddd}}
section{{margin-bottom:3em}}label{{margin-right:1em}}</style></head><body>
<h1>{html.escape(variant['name'])}</h1>
{''.join(sections)}
</body></html>"""
    return page.encode()


def _section(output: str | None, results: list[dict], data: bytes, mime: str, size: tuple[int, int],
             first: int) -> tuple[str, int]:
    W, H = size
    img64 = base64.b64encode(data).decode()
    groups, toggles = [], []
    for i, r in enumerate(results, first):
        shapes = []
        if r.get("zone"):
            x0, y0, x1, y1 = r["zone"]
            colour = "#d33" if r["status"] == "fail" else "#2a2"
            shapes.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
                          f'stroke="{colour}" stroke-width="3" stroke-dasharray="10 6"><title>clear space</title></rect>')
        if r.get("margins") is not None and r["rule"] == "safezone":
            top, right, bottom, left = r["margins"]
            shapes.append(f'<rect x="{left}" y="{top}" width="{W - left - right}" height="{H - top - bottom}" '
                          f'fill="none" stroke="#36c" stroke-width="2"><title>safe zone</title></rect>')
        if r.get("heatmap"):
            x0, y0, x1, y1 = r.get("box") or (0, 0, W, H)
            shapes.append(f'<image x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" preserveAspectRatio="none" '
                          f'href="data:image/png;base64,{r["heatmap"]}"><title>{r["rule"]}: failing pixels</title></image>')
        if shapes:
            on = "checked" if r["rule"] != "palette" else ""  # the palette map can cover everything: off at first
            groups.append(f'<g id="ov{i}" style="display:{"" if on else "none"}">{"".join(shapes)}</g>')
            label = html.escape(r["rule"] + (" " + r["component"] if r.get("component") else ""))
            toggles.append(f'<label><input type="checkbox" {on} onchange="document.getElementById(\'ov{i}\')'
                           f'.style.display=this.checked?\'\':\'none\'"> {label}</label>')
    rows = "".join(
        f"<tr class='{html.escape(r.get('status', ''))}'><td>{html.escape(r['rule'] + (' ' + r['component'] if r.get('component') else ''))}</td>"
        f"<td>{html.escape(str(r.get('target', '')))}</td><td>{html.escape('—' if r.get('measured') is None else str(r['measured']))}</td>"
        f"<td>{html.escape(r.get('status', ''))}</td><td>{html.escape(r.get('fix', '') or r.get('note', '') or '')}</td></tr>"
        for r in results)
    title = f"<h2>{html.escape(output)} ({W} × {H})</h2>" if output else ""
    section = f"""<section>{title}
<div>overlays: {''.join(toggles) or 'none'}</div>
<div class="stage"><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">
<image href="data:{mime};base64,{img64}" width="{W}" height="{H}"/>{''.join(groups)}</svg></div>
<table><tr><th>rule</th><th>target</th><th>measured</th><th>status</th><th>fix / note</th></tr>{rows}</table></section>"""
    return section, first + len(results)
