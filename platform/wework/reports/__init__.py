"""Notebook reports: the analyst notebooks in ``notebooks/`` run as parameterised
reports, platform-wide and per tenant, rendered to self-contained HTML and kept as
versioned artifacts.

- :mod:`.scope`     which tenant and which days a report covers, and the SQL for it
- :mod:`.notebooks` the notebooks and what each reads (from its jupytext header)
- :mod:`.inputs`    what a report was built from: the published marts' rows per scope
- :mod:`.runner`    executing notebooks with papermill on a pool of reused kernels
- :mod:`.render`    the executed notebook as one offline HTML file
- :mod:`.store`     versions on disk, retention, the readers' (app's) view
- :mod:`.build`     all of the above for a list of (notebook, scope)
- :mod:`.markdown`  Markdown to HTML that shows user-supplied text as text

The Dagster assets are in ``pipelines/reports.py``; the app page in
``app/app_pages/notebook_reports.py``.
"""
