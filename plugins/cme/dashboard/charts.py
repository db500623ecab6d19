"""Trend charts over the last runs, drawn server-side as SVG with pygal.

SVG inline in the page: no JavaScript, nothing fetched from outside, prints as is.
"""
from __future__ import annotations

import pygal
from pygal.style import Style

STYLE = Style(background="white", plot_background="white", font_family="system-ui, sans-serif",
              colors=("#1f5f99", "#c0392b", "#e08e0b", "#2e8b57", "#7d3c98", "#555555"),
              title_font_size=16, label_font_size=11, legend_font_size=12)


def _chart(kind, title: str, labels: list[str], series: dict[str, list]) -> str:
    chart = kind(title=title, x_labels=labels, style=STYLE, width=720, height=300,
                 js=[],  # no tooltip script from a CDN: the page works offline
                 disable_xml_declaration=True, legend_at_bottom=True, x_label_rotation=0,
                 print_values=False, show_y_guides=True, min_scale=1, no_data_text="no runs yet")
    for name, values in series.items():
        chart.add(name, values)
    return chart.render(is_unicode=True)


def trend_charts(summaries: list[dict]) -> list[str]:
    """SVG charts over the runs in `summaries` (oldest first)."""
    labels = [s["run_date"][5:] for s in summaries]  # MM-DD keeps the axis readable
    bodies = sorted({b for s in summaries for b in s.get("bodies", {})})
    per_body = lambda key: {b: [s.get("bodies", {}).get(b, {}).get(key, 0) for s in summaries]
                            for b in bodies}
    return [
        _chart(pygal.Bar, "Awards and rows quarantined per run", labels, {
            "awards": [s.get("awards_this_run", 0) for s in summaries],
            "rows quarantined": [s.get("rows_quarantined", 0) for s in summaries],
        }),
        _chart(pygal.StackedBar, "Open exceptions after each run", labels, {
            "errors (hold records)": [s.get("exceptions_open", {}).get("error", 0) for s in summaries],
            "warnings": [s.get("exceptions_open", {}).get("warning", 0) for s in summaries],
        }),
        _chart(pygal.Line, "Records written or sent per run, by body", labels, per_body("written")),
        _chart(pygal.Line, "Records rejected by the body per run", labels, per_body("rejected")),
    ]
