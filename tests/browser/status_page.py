"""The status page in a real browser (headless Chromium through WebDriver).

Usage: python status_page.py BASE_URL SCREENSHOT_PATH

Checks that the page has one row per target of /api/v1/targets, that the failing target shows
its error class and hint, and that typing in the filter box hides the rows that do not match.
"""
import json
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main(base, screenshot):
    with urllib.request.urlopen(base + "/api/v1/targets", timeout=10) as response:
        targets = json.load(response)["targets"]
    failing = [t for t in targets if t["error"]]
    assert failing, "the setup must have a failing target"

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(base + "/")
        rows = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr")
        assert len(rows) == len(targets), f"{len(rows)} rows for {len(targets)} targets"

        down = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr.down")
        assert len(down) == len(failing), f"{len(down)} failing rows for {len(failing)} failing targets"
        first = down[0].text
        assert failing[0]["error"]["code"] in first, first
        assert failing[0]["error"]["hint"] in first, first
        assert rows[0].get_attribute("class") == "down", "failing targets come first"

        wanted = [t for t in targets if not t["error"]][0]["instance_id"]
        box = driver.find_element(By.ID, "filter")
        box.send_keys(wanted.upper())
        WebDriverWait(driver, 10).until(
            lambda d: all(r.is_displayed() == (wanted in r.text) for r in rows))
        visible = [r for r in rows if r.is_displayed()]
        expected = sum(1 for t in targets if t["instance_id"] == wanted)
        assert len(visible) == expected, f"{len(visible)} rows shown, {expected} expected"
        shown = driver.find_element(By.ID, "shown").text
        assert shown.startswith(f"{expected} of {len(targets)}"), shown

        box.clear()
        box.send_keys("x")
        box.send_keys("\b")
        driver.save_screenshot(screenshot)
        print(f"browser: {len(rows)} rows, {len(down)} failing ({failing[0]['error']['code']}), "
              f"filter '{wanted.upper()}' left {len(visible)}; screenshot {screenshot}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
