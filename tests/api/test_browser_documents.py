"""The chat page's documents panel in headless Chromium against a real server with an upload folder:
drop a file (a real drop event with a DataTransfer), see it listed, get a cited answer from it,
delete it, see the question refused; a refused file shows its reason. Screenshot in test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_browser import CHROMIUM, ask_on_page, browser, open_page  # noqa: F401  (browser: the shared fixture)

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "tests" / "data" / "varnhold.txt"
QUESTION = "How much did the reconstruction of the Varnhold harbor cost?"

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium; browser tests skipped")]

DROP = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: "text/plain"}));
  document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                                                       cancelable: true}));
}"""


@pytest.fixture(scope="module")
def live_server(seeds_index, start_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("page-live")
    shutil.copytree(seeds_index.index_dir, base / "index", symlinks=True)
    return start_server(base / "index", env={"RAG_CORPUS__PATHS": json.dumps([str(ROOT / "seeds")]),
                                             "RAG_CORPUS__UPLOAD_DIR": str(base / "uploads")})


def test_drop_a_file_ask_about_it_delete_it(browser, live_server, artifacts):
    errors: list[str] = []
    context, page = open_page(browser, live_server, errors, viewport={"width": 1280, "height": 900})
    page.click("#docs-toggle")
    page.wait_for_selector("#doc-list li[data-doc-id='000_fa0abe1aae40eff2']")
    assert page.locator("#doc-list li").count() == 5

    page.evaluate(DROP, ["varnhold.txt", ARTICLE.read_text()])
    page.wait_for_selector("#doc-list li[data-doc-id='varnhold']", timeout=60_000)
    assert "Added varnhold" in page.inner_text("#docs-status")
    page.screenshot(path=str(artifacts / "documents-panel.png"))

    page.click("#close-docs")
    bubble = ask_on_page(page, QUESTION)
    assert "48 million kroner" in bubble.inner_text() and "[1]" in bubble.inner_text()

    page.click("#docs-toggle")
    page.click("#doc-list li[data-doc-id='varnhold'] button.delete")
    page.wait_for_selector("#doc-list li[data-doc-id='varnhold']", state="detached", timeout=60_000)
    page.click("#close-docs")
    refusal = ask_on_page(page, QUESTION)
    assert "do not say" in refusal.inner_text()

    page.click("#docs-toggle")
    page.evaluate(DROP, ["notes.png", "not an image"])
    page.wait_for_function("document.getElementById('docs-status').textContent.includes('unsupported')")
    assert "Not added" in page.inner_text("#docs-status")
    context.close()
    assert [e for e in errors if "422" not in e and "Failed to load resource" not in e] == []
