"""The documentation: the site builds with strict warnings, and every Python code sample in
docs/ (its subfolders too) and the README runs. A sample whose first line is ``# needs
<framework> ...`` (docs/integrations/) is not run here: the integration's own test runs it in
the framework's venv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from augur_sdk.otel import provider

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


NEEDS_FRAMEWORK = "# needs "


def _samples() -> list[tuple[str, int, str]]:
    out = []
    for page in PAGES:
        for n, match in enumerate(BLOCK.finditer(page.read_text(encoding="utf-8"))):
            if not match.group(1).startswith(NEEDS_FRAMEWORK):
                out.append((page.relative_to(ROOT).as_posix(), n, match.group(1)))
    return out


SAMPLES = _samples()


def test_there_are_samples_to_run() -> None:
    """The sample extractor finds the code blocks (a broken regex would silently skip them)."""
    assert len(SAMPLES) >= 10
    assert {page for page, _, _ in SAMPLES} >= {"README.md", "docs/quickstart.md",
                                                "docs/redaction.md"}


@pytest.mark.parametrize(("page", "n", "code"), SAMPLES, ids=[f"{p}#{n}" for p, n, _ in SAMPLES])
def test_code_sample_runs(page: str, n: int, code: str, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample runs as written; `my_cua` (your agent) is the fake agent of examples/.

    It runs on a thread of its own, as a script's main thread would: with no event loop of
    another test running (the viewer tests' Playwright keeps one on the main thread)."""
    from fake_cua import FakeCUA

    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__", "my_cua": FakeCUA(steps=3)}
    s3 = None
    if "S3Store(" in code:  # the bucket it names, on a moto server on loopback
        from s3_support import MotoServer, aws_env, require_moto

        require_moto()
        s3 = MotoServer(tmp_path)
        for key, value in aws_env(s3.endpoint, tmp_path).items():
            monkeypatch.setenv(key, value)
        s3.start(bucket="my-bucket")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            exec(compile(code, f"{page}#{n}", "exec"), namespace)
        except BaseException as exc:  # re-raised on the test's thread
            failure.append(exc)

    try:
        thread = threading.Thread(target=run, name=f"docs-sample-{n}", daemon=True)
        thread.start()
        thread.join(120)
        assert not thread.is_alive(), "the sample did not finish in 120 s"
        if failure:
            raise failure[0]
        if s3 is not None:
            assert any(key.endswith("manifest.json") for key in s3.objects("my-bucket"))
    finally:
        provider.reset(timeout_s=1.0)
        if s3 is not None:
            s3.stop()


def test_site_builds_with_strict_warnings(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds (broken links, missing pages, bad API refs fail it)."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed (the dev extra installs it)")
        pytest.skip("mkdocs not installed: pip install -e '.[docs]'")
    proc = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()
