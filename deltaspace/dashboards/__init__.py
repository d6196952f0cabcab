"""Dashboards: plotly figures of stored studies, the HTML report, and the web service.

``records.py`` and one module per figure (compute a record, then draw it), ``figures.py`` (the
figure registry), ``report.py`` (``deltaspace report``), ``app.py`` with ``api.py`` and
``pages.py`` (``deltaspace serve``), ``security.py`` (what the service lets in), ``submit.py``
(study files sent to the service), and the autoescaping ``templates/``. Read-only over storage,
except that the service queues and cancels.
"""
