"""``augur view BUNDLE``: a step debugger for computer-use-agent runs, in the browser.

* :class:`ViewerServer` serves one bundle (live or finished) on 127.0.0.1 with the page in
  ``static/`` and a small JSON API (:mod:`augur_sdk.viewer.server`).
* :func:`export_html` writes the same viewer as one self-contained HTML file.
* :class:`BundleReader` is the bundle side of both (:mod:`augur_sdk.viewer.reader`).
"""

from augur_sdk.viewer.export import export_html
from augur_sdk.viewer.reader import FAR_PX, BundleReader
from augur_sdk.viewer.server import ViewerServer

__all__ = ["FAR_PX", "BundleReader", "ViewerServer", "export_html"]
