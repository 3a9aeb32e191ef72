"""Runs imported from a model-API log (`augur import`) in headless Chromium: the click the
model asked for, in its declared display's pixels, is drawn where it lands on a screenshot
twice that size; the failed action is listed as failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from viewer_support import open_viewer, run_viewer

from augur_sdk.adapters import anthropic, openai
from augur_sdk.adapters.cua_log import import_log
from provider_logs import CLICKS, SHOT_SIZE, anthropic_log, openai_log

pytest.importorskip("anthropic")
pytest.importorskip("openai")

MARKER_JS = """() => {
  const img = document.getElementById('shot');
  const box = img.getBoundingClientRect();
  const el = document.querySelector('#overlay .mk-click');
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {x: (r.left + r.width / 2 - box.left) * img.naturalWidth / box.width,
          y: (r.top + r.height / 2 - box.top) * img.naturalHeight / box.height,
          natural: [img.naturalWidth, img.naturalHeight]};
}"""


@pytest.mark.parametrize(("name", "module", "make_log"),
                         [("anthropic", anthropic, anthropic_log),
                          ("openai", openai, openai_log)], ids=["anthropic", "openai"])
def test_the_models_click_is_drawn_at_the_right_pixel(new_page: Any, tmp_path: Path,
                                                      name: str, module: Any,
                                                      make_log: Any) -> None:
    """Step 2 clicked (300, 200) in a 640x400 display: on the 1280x800 pre screenshot the
    click marker's centre is at (600, 400), within a pixel; step 1 shows as failed."""
    log = make_log(tmp_path / f"{name}.jsonl")
    out = import_log(module, log.path, tmp_path / "bundle")
    with run_viewer(out) as url:
        page = open_viewer(new_page(), url, "#step=2&tab=action")
        page.wait_for_selector("#detail[data-step='2'][data-ready='1']")
        page.wait_for_selector("#shot-wrap[data-step='2'][data-loaded='1']")
        page.wait_for_selector("#overlay .mk-click")
        got = page.evaluate(MARKER_JS)
        assert got["natural"] == list(SHOT_SIZE)
        x, y = CLICKS[1]
        assert abs(got["x"] - 2 * x) <= 1.5 and abs(got["y"] - 2 * y) <= 1.5, got
        row = page.locator("#list-rows [data-i='1']")
        assert "failed" in (row.get_attribute("class") or "") + row.text_content()
