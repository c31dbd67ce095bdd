"""Drives the /observe page in headless Chromium (Debian's chromium and chromedriver,
through Selenium) and reports what the DOM shows, as one JSON object on stdout.

    python drive.py <page url> <screenshot dir> <slow route key> <compare route key> <sampling ratio>

The page url is where the admin routes serve it: `<mount>/observe` (or with a trailing
slash), `<mount>` being the admin listener or a prefix such as `/admin` on the
application's router. The Rust test (tests/page/main.rs) starts the service, runs
this, and asserts on the report; this script only waits for elements, clicks and
reads. Selenium Manager never runs: the driver's path is given, so nothing is
downloaded.
"""

import base64
import json
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

page, shots, slow_key, compare_key, ratio = sys.argv[1:6]
os.makedirs(shots, exist_ok=True)

profile = tempfile.mkdtemp(prefix="observe-page-chromium-")
options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("OBSERVE_TEST_CHROMIUM", "/usr/bin/chromium")
for arg in [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
    "--user-data-dir=" + profile,
]:
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
service = Service(executable_path=os.environ.get("OBSERVE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
driver = webdriver.Chrome(service=service, options=options)
# The page re-renders its views on every refresh: an element found a moment ago
# may be replaced before it is read, which is a reason to look again, not a
# failure.
wait = WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,))
report = {}


def refreshed():
    return int(driver.execute_script("return Number(document.body.dataset.refreshed || 0)"))


def after_refresh(action):
    """Runs `action`, then waits for the page's next completed refresh."""
    before = refreshed()
    action()
    wait.until(lambda d: refreshed() > before)


def open_tab(name):
    after_refresh(lambda: driver.find_element(By.ID, "tab-" + name).click())


def shot(name):
    """A screenshot of the whole page (up to 2400 px tall) at laptop width, taken
    through the DevTools protocol so nothing is cut at the window's edge."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    height = min(max(int(size["height"]), 600), 2400)
    clip = {"x": 0, "y": 0, "width": max(int(size["width"]), 1366), "height": height, "scale": 1}
    png = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )["data"]
    with open(os.path.join(shots, name + ".png"), "wb") as f:
        f.write(base64.b64decode(png))


def stable(read):
    """Runs `read` again when auto-refresh replaced an element it held (a row is
    redrawn when its data changes)."""
    for _ in range(10):
        try:
            return read()
        except StaleElementReferenceException:
            pass
    return read()


def series_row(key):
    try:
        for tr in driver.find_elements(By.CSS_SELECTOR, "#lat-table tbody tr"):
            cells = tr.find_elements(By.TAG_NAME, "td")
            if cells[2].text == "http.server" and cells[3].text == key:
                return tr
    except StaleElementReferenceException:
        pass
    return None


def latency():
    wait.until(lambda d: series_row(slow_key) is not None)
    report["latency_keys"] = stable(
        lambda: [
            tr.find_elements(By.TAG_NAME, "td")[3].text
            for tr in driver.find_elements(By.CSS_SELECTOR, "#lat-table tbody tr")
        ]
    )
    stable(lambda: series_row(slow_key).find_element(By.CSS_SELECTOR, "input[name=series-a]").click())
    if series_row(compare_key) is not None:
        stable(lambda: series_row(compare_key).find_element(By.CSS_SELECTOR, "input.series-b").click())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#plot g.series-a circle.pt"))
    wait.until(
        lambda d: slow_key in d.find_element(By.CSS_SELECTOR, "#plot g.series-a").get_attribute("data-series")
    )
    report["plot_series"] = stable(lambda: driver.find_element(By.CSS_SELECTOR, "#plot g.series-a").get_attribute("data-series"))
    report["plot_points"] = stable(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#plot g.series-a circle.pt")))
    report["plot_points_b"] = stable(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#plot g.series-b circle.pt")))


def slo():
    open_tab("slo")
    report["slo_message"] = stable(lambda: driver.find_element(By.ID, "slo-msg").text)
    report["slo_names"] = stable(lambda: [c.get_attribute("data-slo") for c in driver.find_elements(By.CSS_SELECTOR, "#slo-cards .card.slo")])
    report["burn_rates"] = stable(lambda: [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#slo-cards td.burn-rate")])


def deps():
    open_tab("deps")
    report["deps_message"] = stable(lambda: driver.find_element(By.ID, "deps-msg").text)
    report["deps_callees"] = stable(lambda: [
        tr.find_elements(By.TAG_NAME, "td")[0].text for tr in driver.find_elements(By.CSS_SELECTOR, "#deps-table tbody tr")
    ])
    report["graph_nodes"] = stable(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#deps-graph g.node")))


def traces():
    open_tab("traces")
    after_refresh(lambda: driver.find_element(By.CSS_SELECTOR, "input[name=tr-list][value=slowest]").click())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tr-table tbody tr"))
    report["slowest"] = stable(
        lambda: [
            {"trace_id": tr.get_attribute("data-key"), "name": tr.find_element(By.CSS_SELECTOR, ".trace-name").text}
            for tr in driver.find_elements(By.CSS_SELECTOR, "#tr-table tbody tr")
        ]
    )
    stable(lambda: driver.find_element(By.CSS_SELECTOR, "#tr-table tbody tr .trace-name").click())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#waterfall .wf-row"))
    report["waterfall_title"] = driver.find_element(By.ID, "wf-title").text
    report["waterfall"] = [
        {
            "span_id": r.get_attribute("data-span-id"),
            "parent_span_id": r.get_attribute("data-parent-span-id") or None,
            "depth": int(r.get_attribute("data-depth")),
            "name": r.find_element(By.CSS_SELECTOR, ".wf-span-name").text,
            "service": r.find_element(By.CSS_SELECTOR, ".wf-svc").text,
        }
        for r in driver.find_elements(By.CSS_SELECTOR, "#waterfall .wf-row")
    ]
    report["log_lines"] = len(driver.find_elements(By.CSS_SELECTOR, "#wf-logs tbody tr[data-span-id]"))
    # The first span's details (attributes) open on click.
    driver.find_elements(By.CSS_SELECTOR, "#waterfall .wf-row")[0].click()
    report["span_detail"] = driver.find_element(By.ID, "span-detail").text


def controls():
    open_tab("controls")
    field = driver.find_element(By.ID, "samp-input")
    field.clear()
    field.send_keys(ratio)
    driver.find_element(By.ID, "samp-apply").click()
    wait.until(lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None)
    report["confirm_text"] = driver.find_element(By.ID, "confirm-text").text
    driver.find_element(By.ID, "confirm-ok").click()
    wait.until(lambda d: "audit" in d.find_element(By.ID, "ctl-result").text or "failed" in d.find_element(By.ID, "ctl-result").text)
    report["control_result"] = driver.find_element(By.ID, "ctl-result").text
    wait.until(lambda d: d.find_element(By.ID, "samp-ratio").text == ratio)
    report["shown_ratio"] = driver.find_element(By.ID, "samp-ratio").text
    # The tracer-bullet button: a real request, served as a bullet, with its trace.
    wait.until(lambda d: d.find_element(By.ID, "bullet-fire").is_enabled())
    report["bullet_status"] = driver.find_element(By.ID, "bullet-status").text
    path = driver.find_element(By.ID, "bullet-path")
    path.clear()
    path.send_keys("/orders/3")
    driver.find_element(By.ID, "bullet-fire").click()
    wait.until(lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None)
    driver.find_element(By.ID, "confirm-ok").click()
    wait.until(lambda d: d.find_element(By.ID, "bullet-result").text != "")
    report["bullet_result"] = driver.find_element(By.ID, "bullet-result").text
    report["bullet_links"] = len(driver.find_elements(By.CSS_SELECTOR, "#bullet-result a.trace-link"))
    # "Snapshot now" asks first too; cancelled, nothing is written.
    driver.find_element(By.ID, "dump-now").click()
    wait.until(lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None)
    report["dump_confirm_text"] = driver.find_element(By.ID, "confirm-text").text
    driver.find_element(By.ID, "confirm-cancel").click()
    wait.until(lambda d: "cancelled" in d.find_element(By.ID, "ctl-result").text)
    report["dump_result"] = driver.find_element(By.ID, "ctl-result").text


def view(name, steps):
    """Runs one view's steps; a step that times out is reported with what the view's
    message says, and the next view still runs. The screenshot is taken either way."""
    try:
        steps()
    except TimeoutException as e:
        messages = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#view-" + name + " .msg, #view-" + name + " output") if m.text]
        report.setdefault("failed", {})[name] = {"timeout": (e.msg or "").strip(), "page_says": messages}
    shot(name)


def loaded():
    """Waits for the page's first completed refresh: its script and style sheet loaded
    and the API answered. A page that never gets there is reported with what the
    browser logged (a script or API URL that answered 404, say)."""
    try:
        wait.until(lambda d: refreshed() >= 1)
        return True
    except TimeoutException as e:
        report.setdefault("failed", {})["load"] = {
            "timeout": (e.msg or "").strip() or "no refresh completed",
            "browser_says": [e.get("message") for e in driver.get_log("browser")],
        }
        return False


def resources():
    """Where the page's files and API calls went, as the browser resolved them."""
    report["script_src"] = driver.execute_script("return document.querySelector('script[src]').src")
    report["stylesheets"] = driver.execute_script(
        "return Array.from(document.styleSheets).map(s => ({href: s.href, rules: s.cssRules.length}))"
    )
    report["dump_href"] = driver.execute_script("return document.querySelector('a[download]').href")
    report["api_calls"] = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.initiatorType === 'fetch')"
        ".map(e => ({url: e.name, status: e.responseStatus}))"
    )


try:
    driver.get(page)
    if loaded():
        report["title"] = driver.title
        view("latency", latency)
        view("slo", slo)
        view("deps", deps)
        view("traces", traces)
        view("controls", controls)
    resources()
    # Every message the page logged: the test fails on any error.
    report["console"] = [
        {"level": e.get("level"), "source": e.get("source"), "message": e.get("message")}
        for e in driver.get_log("browser")
    ]
finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)

json.dump(report, sys.stdout)
sys.stdout.write("\n")
