"""The instance page in a real browser (headless Chromium through WebDriver).

Usage: python instance_page.py DEMO_URL OTHER_URL SCREENSHOT_PATH

DEMO_URL is `dbs-exporter demo` (several accounts, tasks that come and go); OTHER_URL an exporter
of one account with a failing target. On the demo: the status page links each instance to its
page (with its account); following the link of an instance with tasks in progress gives its
targets, and (reloading for up to a minute) a task in progress with a progress bar and a time
left or "stalled", and an event. On the other: the link has no account, and the failing
target's page shows its error.
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WAIT_SECONDS = 60
ETA = re.compile(r"^(\d+ s|\d+ min|\d+\.\d h|stalled)$")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def page_path(target):
    query = [("region_id", target["region_id"]), ("instance_id", target["instance_id"])]
    if target.get("account") is not None:
        query.append(("account", target["account"]))
    return "/instance?" + urllib.parse.urlencode(query)


def busiest_instance(base):
    """The instance with the most tasks in progress that have a progress, waiting for one."""
    deadline = time.time() + WAIT_SECONDS
    while True:
        counts = {}
        for task in get_json(base + "/api/v1/tasks")["tasks"]:
            if task["progress"] and task["state"] == "running":
                key = (task.get("account"), task["region_id"], task["instance_id"])
                counts[key] = counts.get(key, 0) + 1
        if counts:
            account, region_id, instance_id = max(counts, key=counts.get)
            return {"account": account, "region_id": region_id, "instance_id": instance_id}
        assert time.time() < deadline, "the demo showed no running task with a progress"
        time.sleep(2)


def link_of(driver, base, target):
    """The status page's link to `target`'s page, checked against the expected URL."""
    driver.get(base + "/")
    expected = base + page_path(target)
    links = [a for a in driver.find_elements(By.CSS_SELECTOR, "#targets a.instance")
             if a.get_attribute("href") == expected]
    assert links, f"no link to {expected} on the status page"
    assert links[0].text == target["instance_id"], links[0].text
    return links[0]


def main(demo, other, screenshot):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        target = busiest_instance(demo)
        assert target["account"], "the demo has several accounts: its rows name theirs"
        link_of(driver, demo, target).click()
        assert driver.current_url == demo + page_path(target), driver.current_url
        assert driver.find_element(By.ID, "instance-id").text == target["instance_id"]
        assert f"Account\n{target['account']}" in driver.find_element(By.CSS_SELECTOR, "dl.summary").text
        targets = [t for t in get_json(demo + "/api/v1/targets")["targets"]
                   if (t["account"], t["region_id"], t["instance_id"]) ==
                   (target["account"], target["region_id"], target["instance_id"])]
        rows = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr")
        assert len(rows) == len(targets) > 0, f"{len(rows)} target rows for {len(targets)} targets"

        # A task with a bar and a time left (or stalled), and an event: reload until both show.
        deadline = time.time() + WAIT_SECONDS
        reloads = 0
        while True:
            tasks = driver.find_elements(By.CSS_SELECTOR, "#active-tasks tbody tr.task")
            timed = []
            for row in tasks:
                bars = row.find_elements(By.CSS_SELECTOR, "td.progress progress")
                eta = row.find_element(By.CSS_SELECTOR, "td.eta").text.strip()
                if bars and ETA.match(eta):
                    bar = bars[0]
                    assert 0 <= float(bar.get_attribute("value")) <= float(bar.get_attribute("max"))
                    text = row.find_element(By.CSS_SELECTOR, "td.progress").text
                    assert re.search(r"\d+/\d+ tables", text), text
                    timed.append((row.get_attribute("data-task-id"), eta, text.strip()))
            events = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr.event")
            if timed and events:
                break
            assert time.time() < deadline, (
                f"after {reloads} reloads: {len(tasks)} tasks, {len(timed)} with a bar and a time left, "
                f"{len(events)} events")
            time.sleep(3)
            driver.refresh()
            reloads += 1
        first_event = events[0].find_element(By.CSS_SELECTOR, "td.change").text
        assert "→" in first_event, first_event
        height = driver.execute_script("return document.documentElement.scrollHeight")
        # The whole page in the screenshot (headless windows do not grow past the screen).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1400, "height": min(max(height + 40, 900), 4000), "deviceScaleFactor": 1, "mobile": False})
        driver.save_screenshot(screenshot)
        task_id, eta, progress = timed[0]
        print(f"browser: instance page of {target['account']}/{target['region_id']}/{target['instance_id']}: "
              f"{len(rows)} targets, {len(tasks)} tasks in progress ({task_id}: {progress}, {eta}), "
              f"{len(events)} events (newest: {first_event}) after {reloads} reloads; screenshot {screenshot}")

        # One account: the link has no account; the failing target's page shows its error.
        failing = [t for t in get_json(other + "/api/v1/targets")["targets"] if t["error"]][0]
        assert failing["account"] is None
        link_of(driver, other, failing).click()
        down = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr.down")
        assert down and failing["error"]["code"] in down[0].text and failing["error"]["hint"] in down[0].text
        assert not driver.find_elements(By.CSS_SELECTOR, "#active-tasks tbody tr.task")
        driver.find_element(By.ID, "back").click()
        assert driver.current_url == other + "/", driver.current_url
        print(f"browser: instance page of {failing['instance_id']} (one account): "
              f"DOWN with {failing['error']['code']}; the back link leads to the status page")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
