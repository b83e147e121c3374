"""Writes python/undertow/report/assets/vega.min.js: the pinned Vega + Vega-Lite runtime that
every HTML report inlines (so a report opens offline and renders the same years later).

Needs vl-convert-python (a development tool only, not a dependency of undertow):
    pip install vl-convert-python==1.9.0.post1 && python scripts/make_report_bundle.py
The bundle holds Vega and Vega-Lite (BSD-3-Clause, the Vega project) and their dependencies
(d3 modules, ISC/BSD) and vega-embed (BSD-3-Clause), which compiles and renders each chart and
draws the tooltips. (Without vega-embed the bundle would be 270 kB smaller, but vl-convert's
bundler then exports no usable Vega-Lite compiler.)"""

from pathlib import Path

import vl_convert as vlc

VEGA_LITE = "v6.4"
OUT = Path(__file__).parents[1] / "python" / "undertow" / "report" / "assets" / "vega.min.js"

SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega;"
bundle = vlc.javascript_bundle(snippet=SNIPPET, vl_version=VEGA_LITE)
# an inline <script> ends at the first "</script" it holds, whatever the JavaScript around it
if "</script" in bundle.lower():
    raise SystemExit("the bundle holds '</script': it cannot be inlined")
header = (
    f"/* Vega {vlc.get_vega_version()}, Vega-Lite {VEGA_LITE}, vega-embed {vlc.get_vega_embed_version()} "
    "(BSD-3-Clause, the Vega project), "
    f"bundled by vl-convert-python {vlc.__version__}; see scripts/make_report_bundle.py */\n"
)
OUT.write_text(header + bundle, encoding="utf-8")
print(f"{OUT}: {OUT.stat().st_size} bytes")
