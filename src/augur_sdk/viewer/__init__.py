"""``augur view BUNDLE``: a step debugger for computer-use-agent runs, in the browser.

* :class:`ViewerServer` serves one bundle (live or finished) on 127.0.0.1 with the page in
  ``static/`` and a small JSON API (:mod:`augur_sdk.viewer.server`).
* :class:`RunListServer` serves ``augur view DIR``: the runs of a folder of bundles (local
  runs or ``augur serve``'s data directory), each opening in the same step debugger.
* :func:`export_html` writes the same viewer as one self-contained HTML file.
* :class:`BundleReader` is the bundle side of both (:mod:`augur_sdk.viewer.reader`);
  :class:`RunDirectory` finds and summarizes the runs of a folder (:mod:`augur_sdk.viewer.runs`).
"""

from augur_sdk.viewer.export import export_html
from augur_sdk.viewer.reader import BundleReader
from augur_sdk.viewer.runs import RunDirectory
from augur_sdk.viewer.server import RunListServer, ViewerServer
from augur_sdk.viewer.summary import FAR_PX

__all__ = ["FAR_PX", "BundleReader", "RunDirectory", "RunListServer", "ViewerServer",
           "export_html"]
