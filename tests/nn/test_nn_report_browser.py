"""The HTML report of ``losskit fit`` in a real headless Chromium: it renders, every image
loads, the console has no errors; a screenshot is kept (tests/artifacts/report.png).

Chromium and its driver come from the OS packages (Debian: ``apt-get install chromium
chromium-driver``; ``make test`` installs them); Selenium drives them through the driver found
on the PATH (no browser download).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
webdriver = pytest.importorskip("selenium.webdriver")

from losskit.cli import main  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="Chromium and chromedriver (OS packages) not installed")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=100), "kind": rng.choice(["a", "b"], 100)})
    df["y"] = 2 * df.x + (df.kind == "a") + 0.1 * rng.normal(size=100)
    df.to_csv(folder / "d.csv", index=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["fit", str(folder / "d.csv"), "--target", "y", "--epochs", "5", "--out",
                     str(folder / "out")]) == 0
    finally:
        torch.set_num_threads(before)
    return folder / "out" / "report.html"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,2000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_report_renders_with_every_image_and_no_console_error(report, browser):
    browser.get(report.as_uri())
    assert browser.title.startswith("losskit fit: d.csv")
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
    assert len(images) == 2
    for complete, width, alt in images:
        assert complete and width > 0, f"image {alt!r} did not load"
    text = browser.find_element("tag name", "body").text
    assert "Diagnosis" in text and "Final loss and metrics" in text
    assert "mean_squared_error" in text
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], json.dumps(errors)
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))
    assert (ARTIFACTS / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_a_broken_image_would_be_caught(report, browser, tmp_path):
    # the check above can fail: the same page with one image's data corrupted
    page = report.read_text().replace("base64,iVBOR", "base64,AAAA", 1)
    broken = tmp_path / "broken.html"
    broken.write_text(page)
    browser.get(broken.as_uri())
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.naturalWidth);")
    assert sorted(widths)[0] == 0
