"""Presentation, in one package: figures, the analysis report and the sweep and ablation pages.

    figures/    one figure per function, each a standalone Agg Figure saved atomically
                (figures/_base.py: ``new_figure``, ``save_png``; no pyplot, no global state)
    page.py     the one HTML page builder (``html_page``) and the analysis report
    sweep.py    a sweep's figure and page (``gridssl sweep``)
    ablation.py the ablation's figure and page (``gridssl ablate``)

The science (what is measured) lives in :mod:`gridssl.pipeline` and :mod:`gridssl.analysis`;
this package only draws and writes it.
"""
