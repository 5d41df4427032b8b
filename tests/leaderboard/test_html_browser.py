"""The generated site in a real browser: it renders, its tables sort and filter, its plots load, its
tables fit a laptop screen, and rejected markup stays text."""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.leaderboard import generate

from tests.leaderboard.builders import make, put


pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install prunebench[dev])"
    for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not (shutil.which(name) or Path(path).exists()):
            return f"{name} is not installed (Debian: apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def site(tmp_path, example_record) -> Path:
    subs = tmp_path / "submissions"
    put(subs, "a.json", make(example_record, adapter="alpha", top1=95.0, std=0.5, module="bench.adapters.l1_norm"))
    put(subs, "b.json", make(example_record, adapter="beta", top1=97.0, std=0.1, control=98.0))
    put(subs, "c.json", make(example_record, adapter="gamma", top1=90.0, control=None))
    # another level, another kind, and alpha under FT and at a second budget (findings, budget plot)
    put(subs, "d.json", make(example_record, adapter="delta", ratio=0.8, flops=0.2))
    put(subs, "o.json", make(example_record, adapter="omega", kind="unstructured"))
    put(subs, "a-ft.json", make(example_record, adapter="alpha", top1=94.0, protocol="ft-3", schedule="ft"))
    put(subs, "a-6.json", make(example_record, adapter="alpha", top1=96.0, protocol="clr-6", epochs=6))
    bad = make(example_record, adapter="evil")
    bad["adapter"]["paper"] = PAYLOAD
    put(subs, "evil.json", bad)
    out = tmp_path / "site"
    built = generate(subs, out)
    assert [r.file for r in built.rejected] == ["evil.json"]
    return out


def _group(site: Path, protocol: str, adapter: str, kind: str = "structured") -> dict:
    """The group of `protocol` that ranks `adapter` (leaderboard.json): its title, level and page, however
    levels are titled."""
    groups = json.loads((site / "leaderboard.json").read_text())["groups"]
    return next(g for g in groups if g["key"]["protocol"]["name"] == protocol and g["kind"] == kind
                and any(e["adapter"] == adapter for e in g["ranked"]))


@pytest.fixture
def server(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def driver(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1366,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _screenshot(driver, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    if os.environ.get("PRUNEBENCH_ARTIFACTS"):
        folder = Path(os.environ["PRUNEBENCH_ARTIFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / name)


def _column(driver, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[index].text.split("\n")[0] for r in rows]


def _visible(driver, selector: str) -> list[str]:
    """The first cell of each row the selector finds that is shown."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, selector)
    return [r.find_element(By.TAG_NAME, "td").text for r in rows if r.is_displayed()]


def _loaded(driver, img) -> bool:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)


def test_index_group_sorting_and_escaping(driver, server, site, tmp_path):
    from selenium.webdriver.common.by import By

    driver.get(server + "/index.html")
    assert driver.title == "prunebench leaderboard"
    links = driver.find_elements(By.CSS_SELECTOR, "#groups a")
    assert len(links) == 5
    main = _group(site, "clr-3", "alpha")["title"]
    assert main in [link.text for link in links]

    # The rejected file's reason names the field, never its payload; and nothing of the payload may run.
    rejected = driver.find_element(By.ID, "rejected").text
    assert "evil.json" in rejected and "adapter/paper: contains HTML/script markup" in rejected and PAYLOAD not in rejected
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.execute_script(
        "return [...document.scripts].every(s => !s.textContent.includes('__pwned'))"
        " && document.querySelectorAll('img[onerror]').length === 0"
    )
    _screenshot(driver, tmp_path, "leaderboard-index.png")

    driver.find_element(By.LINK_TEXT, main).click()
    assert main in driver.title
    assert _column(driver, 1) == ["beta", "alpha", "gamma"]  # ranked by top-1: 97, 95, 90 ("no control" marked)
    header = driver.find_element(By.XPATH, "//table[@id='ranking']//th[normalize-space()='top-1 % mean ± std']")
    header.click()
    assert _column(driver, 1) == ["gamma", "alpha", "beta"]  # ascending top-1: 90, 95, 97
    header.click()
    assert _column(driver, 1) == ["beta", "alpha", "gamma"]
    driver.find_element(By.XPATH, "//table[@id='ranking']//th[normalize-space()='adapter']").click()
    assert _column(driver, 1) == ["alpha", "beta", "gamma"]
    driver.find_element(By.XPATH, "//table[@id='ranking']//th[normalize-space()='Δ random, paired [95% CI]']").click()
    assert _column(driver, 1) == ["beta", "alpha", "gamma"]  # -1.00, +5.00, then "no control" (no value) last
    assert _column(driver, 12) == ["tied", "tied", "no control"]  # two seeds: wide intervals

    link = driver.find_element(By.LINK_TEXT, "alpha").get_attribute("href")
    assert link == "https://github.com/prunebench/prunebench/blob/main/adapters/l1_norm.py"
    record = driver.find_element(By.XPATH, "//table[@id='ranking']//tr[td[2][starts-with(., 'alpha')]]/td[14]/a")
    assert record.get_attribute("href") == (tmp_path / "submissions" / "a.json").resolve().as_uri()  # a local build: the file
    css = driver.execute_script("return getComputedStyle(document.querySelector('th')).backgroundColor")
    assert css == "rgb(246, 248, 250)"  # the local stylesheet loaded
    _screenshot(driver, tmp_path, "leaderboard-group.png")
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_group_page_shows_a_table_that_fits_then_both_plots(driver, server, site):
    from selenium.webdriver.common.by import By

    driver.get(server + "/index.html")
    driver.find_element(By.LINK_TEXT, _group(site, "clr-3", "alpha")["title"]).click()
    pareto = driver.find_element(By.CSS_SELECTOR, "#pareto img")
    budget = driver.find_element(By.CSS_SELECTOR, "figure[id^='budget-'] img")
    assert _loaded(driver, pareto) and _loaded(driver, budget)
    assert "budget" in budget.get_attribute("src") and "pareto" in pareto.get_attribute("src")
    ranking = driver.find_element(By.ID, "ranking")
    assert ranking.rect["y"] < min(pareto.rect["y"], budget.rect["y"])  # the answer first, then the plots
    # the widest table fits the laptop window without a horizontal scroll bar
    assert driver.execute_script(
        "const box = arguments[0].parentElement; return box.scrollWidth <= box.clientWidth"
        " && document.documentElement.scrollWidth <= window.innerWidth", ranking)


def test_index_filters(driver, server, site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(server + "/index.html")
    count = driver.find_element(By.ID, "filter-count")
    assert count.text == "5 of 5 groups shown"
    findings = "#claim-1 tbody tr"
    assert len(_visible(driver, findings)) == 1  # alpha: clr-3 vs ft-3 at ratio=0.5

    level = Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter='level']"))
    heavy = _group(site, "clr-3", "delta")  # the ratio=0.8 level
    level.select_by_visible_text(heavy["level"])
    assert _visible(driver, "#groups tbody tr") == [heavy["title"]]
    assert count.text == "1 of 5 groups shown" and _visible(driver, findings) == []
    level.select_by_visible_text("all")

    Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter='kind']")).select_by_visible_text("unstructured")
    assert _visible(driver, "#groups tbody tr") == [_group(site, "clr-3", "omega", "unstructured")["title"]]
    Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter='kind']")).select_by_visible_text("structured")

    Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter='protocol']")).select_by_visible_text("ft-3 (v1)")
    assert _visible(driver, "#groups tbody tr") == [_group(site, "ft-3", "alpha")["title"]]
    assert len(_visible(driver, findings)) == 1  # a finding compares two protocols: it has none to filter on
    _screenshot(driver, tmp_path, "leaderboard-filters.png")
    for name in ("dataset", "model"):  # the other filters offer what the records hold
        options = Select(driver.find_element(By.CSS_SELECTOR, f"select[data-filter='{name}']")).options
        assert [o.text for o in options] == ["all", {"dataset": "digits", "model": "resnet20"}[name]]
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_pages_work_from_file_urls(driver, site, tmp_path):
    """Opening the folder without a server (file://) must still sort, filter and style."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = site / _group(site, "clr-3", "alpha")["page"]
    driver.get(page.as_uri())
    driver.find_element(By.XPATH, "//table[@id='ranking']//th[normalize-space()='adapter']").click()
    assert _column(driver, 1) == ["alpha", "beta", "gamma"]
    css = driver.execute_script("return getComputedStyle(document.querySelector('th')).backgroundColor")
    assert css == "rgb(246, 248, 250)"
    driver.get((site / "index.html").as_uri())
    level = _group(site, "clr-3", "delta")["level"]
    Select(driver.find_element(By.CSS_SELECTOR, "select[data-filter='level']")).select_by_visible_text(level)
    assert len(_visible(driver, "#groups tbody tr")) == 1
