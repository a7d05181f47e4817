"""The self-contained HTML report of a ``biotune predict`` run: one file, no external assets.

Counts, status breakdown, drug-class and mechanism bar charts (matplotlib, inlined as SVG), the
model's provenance and cross-validated numbers, and a sortable, filterable table (inline JS).
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from biotune import __version__
from biotune.predict.annotation import Annotation, RunSummary

TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("record", "#"), ("id", "id"), ("contig", "contig"), ("start", "start"), ("end", "end"), ("strand", "strand"),
    ("is_arg_probability", "P(ARG)"), ("is_arg", "call"), ("call_basis", "basis"), ("drug_classes", "drug classes"),
    ("mechanism", "mechanism"), ("nearest_reference", "nearest reference"), ("reference_identity", "identity %"),
    ("reference_coverage", "ref. coverage %"), ("novel", "novel"), ("evidence", "evidence"), ("status", "status"),
)  # fmt: skip

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{margin-bottom:.2em} .muted{color:#666} .warn{background:#fff3cd;border:1px solid #e0c36b;padding:.6em 1em}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1.2em;min-width:9em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;font-size:.85em} th,td{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0;user-select:none} tr.arg td{background:#fdf1ef}
.charts{display:flex;flex-wrap:wrap;gap:2em} .charts svg{max-width:640px;height:auto}
"""

SCRIPT = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], col=th.cellIndex;
  const asc=th.dataset.order!=='asc'; th.dataset.order=asc?'asc':'desc';
  const key=r=>{const t=r.cells[col].textContent.trim(); const n=parseFloat(t);
                return t===''?null:(isNaN(n)||!/^[-+0-9.eE]+$/.test(t)?t.toLowerCase():n);};
  const rows=Array.from(body.rows).sort((a,b)=>{const x=key(a),y=key(b);
    if(x===y)return 0; if(x===null)return 1; if(y===null)return -1;
    return (x<y?-1:1)*(asc?1:-1);});
  rows.forEach(r=>body.appendChild(r));
}
function filterTable(input){
  const q=input.value.toLowerCase();
  for(const r of document.getElementById('predictions').tBodies[0].rows)
    r.style.display=r.textContent.toLowerCase().includes(q)?'':'none';
}
"""


def bar_chart_svg(counts: Mapping[str, int], *, title: str, xlabel: str = "ARG calls") -> str:
    """A horizontal bar chart as an inline ``<svg>`` string (empty when there is nothing to plot)."""
    if not counts:
        return ""
    items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    fig = Figure(figsize=(6.4, 0.9 + 0.32 * len(items)))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#c0392b")
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def _table(rows: Sequence[Annotation]) -> str:
    head = "".join(f"<th onclick='sortTable(this)'>{html.escape(label)}</th>" for _, label in TABLE_COLUMNS)
    body = []
    for ann in rows:
        cells = "".join(f"<td>{html.escape(_cell(getattr(ann, name)))}</td>" for name, _ in TABLE_COLUMNS)
        body.append(f"<tr class='arg'>{cells}</tr>" if ann.called_arg else f"<tr>{cells}</tr>")
    return f"<table id='predictions'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _key_values(pairs: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs.items())
    return f"<table>{rows}</table>"


def _model_section(model: Mapping[str, Any]) -> str:
    dataset = model.get("dataset") or {}
    info = {
        "model version": model.get("model_version", ""),
        "method": model.get("method", ""),
        "training data": f"{dataset.get('name', '?')} v{dataset.get('version', '?')} "
        f"({dataset.get('records', '?')} sequences: {dataset.get('arg', '?')} ARG, {dataset.get('non_arg', '?')} non-ARG)",
        "built": model.get("created", ""),
    }
    cv = model.get("cross_validation")
    cv_html = (
        f"<h3>Cross-validated performance ({html.escape(str(cv.get('split', 'homology-grouped folds')))})</h3><pre>" + html.escape(json.dumps(cv, indent=1)) + "</pre>"
        if cv
        else "<p class='muted'>No cross-validated numbers recorded in this bundle.</p>"
    )
    notes = "".join(f"<p class='warn'>{html.escape(str(n))}</p>" for n in model.get("notes") or [])
    return f"<h2>Model</h2>{notes}{_key_values(info)}{cv_html}"


def render_report(
    summary: RunSummary,
    rows: Sequence[Annotation],
    *,
    model: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    table_limit: int | None = None,
) -> str:
    """The whole report as one HTML string."""
    cards = {
        "input records": summary.input_records,
        "proteins": summary.proteins,
        "scored": summary.scored,
        "ARG calls": summary.arg_calls,
        "novel ARG candidates": summary.novel_arg_calls,
    }
    cards_html = "".join(f"<div class='card'><b>{v}</b>{html.escape(k)}</div>" for k, v in cards.items())
    charts = bar_chart_svg(summary.drug_classes, title="Drug classes of ARG calls") + bar_chart_svg(
        summary.mechanisms, title="Mechanisms of ARG calls"
    )
    total_rows = sum(summary.statuses.values())
    shown = (
        f"all {total_rows} rows"
        if len(rows) >= total_rows
        else f"the {len(rows)} rows with the highest P(ARG) of {total_rows} (limit {table_limit}); predictions.tsv has all"
    )
    run = {
        "input file": summary.input_file,
        "input type": summary.input_type,
        "wall time": f"{summary.seconds:.1f} s",
        "throughput": f"{summary.proteins_per_second:.1f} proteins/s" if summary.seconds else "",
        "biotune": __version__,
    }
    settings_html = (
        "<details><summary>Settings</summary><pre>" + html.escape(json.dumps(settings, indent=1)) + "</pre></details>"
        if settings
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>biotune ARG report: {html.escape(summary.input_file)}</title>
<style>{STYLE}</style><script>{SCRIPT}</script></head>
<body>
<h1>Antibiotic-resistance genes</h1>
<p class="muted">{html.escape(summary.input_file)} · model {html.escape(str(model.get("model_version", "")))}</p>
<div class="cards">{cards_html}</div>
<div class="charts">{charts or "<p>No ARG called.</p>"}</div>
<h2>ARG calls by call basis</h2>{_key_values(dict(summary.call_bases.most_common())) if summary.call_bases else "<p>No ARG called.</p>"}
<p class="muted">EXACT: identical full-length ARG reference; ALIGNMENT: ARG reference at high identity over
most of both sequences; HMM: a profile HMM at or above its trusted cut-off; MODEL: the model score alone.</p>
<h2>ARG calls by nearest reference</h2>{_key_values(dict(summary.reference_mobility.most_common())) if summary.reference_mobility else "<p>No ARG called.</p>"}
<p class="muted">acquired: the nearest ARG reference is a mobile resistance gene; intrinsic: a chromosomal one (efflux
pumps, drug targets, housekeeping enzymes) — a homolog of it at moderate identity is often the organism's own gene.</p>
<h2>Record statuses</h2>{_key_values(dict(summary.statuses.most_common()))}
<h2>Predictions</h2>
<p class="muted">Showing {html.escape(shown)}. Click a column header to sort; ARG calls are shaded.
Novel = no reference sequence of the model at ≥ novelty identity.</p>
<p><input type="search" placeholder="filter rows…" oninput="filterTable(this)"></p>
{_table(rows)}
{_model_section(model)}
<h2>Run</h2>{_key_values(run)}{settings_html}
</body></html>
"""
