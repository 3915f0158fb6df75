"""Simulated workers and a scripted reviewer that use the app only through HTTP, like a browser.

They fetch pages, read the CSRF token from the form, look at each image (its bytes' sha256 is
what a ``truth`` function knows about) and answer: honest workers mostly right, careless ones
often wrong, spammers at random. Used by the tests, the load benchmark and the demo.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from curate_demo.world import pixel_key

TruthFn = Callable[[str, str], bool]        # (image sha256, class key) -> does the image show the class?
PROFILES = {"honest": 0.97, "careless": 0.75, "spammer": 0.5}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_HIT_DATA = re.compile(r'<script type="application/json" id="hit-data">(.*?)</script>', re.S)


def csrf_from(page: str) -> str:
    found = _CSRF.search(page)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return html.unescape(found.group(1))


@dataclass
class Submission:
    worker: str
    assignment: str
    class_key: str
    items: list[str]
    selected: list[str]


@dataclass
class SimResult:
    """What the simulated crowd did and saw; ``failures`` lists every unexpected HTTP answer."""

    submissions: list[Submission] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    repeats_seen: int = 0           # images a worker was shown twice (must stay 0)
    qualified: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def timed(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)

    @property
    def hits_done(self) -> int:
        return len(self.submissions)


class SimulatedWorker:
    """One worker: joins by invite, takes HITs until none is left or ``max_hits`` is reached."""

    def __init__(self, base_url: str, name: str, profile: str, truth: TruthFn, rng: np.random.Generator,
                 result: SimResult, max_hits: int | None = None, double_submit: float = 0.0,
                 fetch_static: bool = False):
        import requests

        if profile not in PROFILES:
            raise ValueError(f"unknown worker profile {profile!r}; valid: {', '.join(PROFILES)}")
        self.base, self.name, self.profile, self.truth, self.rng = base_url.rstrip("/"), name, profile, truth, rng
        self.result, self.max_hits, self.double_submit, self.fetch_static = result, max_hits, double_submit, fetch_static
        self.http = requests.Session()
        self.seen: set[str] = set()

    def _get(self, kind: str, path: str, **kw):
        start = time.perf_counter()
        response = self.http.get(path if path.startswith("http") else self.base + path, timeout=60, **kw)
        self.result.timed(kind, time.perf_counter() - start)
        return response

    def _post(self, kind: str, path: str, data: dict, **kw):
        start = time.perf_counter()
        response = self.http.post(path if path.startswith("http") else self.base + path, data=data, timeout=60, **kw)
        self.result.timed(kind, time.perf_counter() - start)
        return response

    def join(self, invite_code: str) -> bool:
        landing = self._get("join", f"/join/{invite_code}")
        page = self._post("join", f"/join/{invite_code}", {"csrf_token": csrf_from(landing.text)})
        if page.status_code != 200:
            self.result.fail(f"{self.name}: join answered {page.status_code}")
            return False
        self.csrf = csrf_from(page.text)
        return True

    def answer(self, sha256: str, class_key: str) -> bool:
        accuracy = PROFILES[self.profile]
        truth = self.truth(sha256, class_key)
        return truth if self.rng.random() < accuracy else not truth

    def run(self) -> None:
        done = 0
        while self.max_hits is None or done < self.max_hits:
            started = self._post("start", "/w/start", {"csrf_token": self.csrf}, allow_redirects=False)
            if started.status_code != 302:
                if started.status_code != 200:
                    self.result.fail(f"{self.name}: start answered {started.status_code}")
                return
            if not self.do_hit(started.headers["Location"]):
                return
            done += 1

    def do_hit(self, location: str) -> bool:
        page = self._get("hit_page", location)
        found = _HIT_DATA.search(page.text)
        if page.status_code != 200 or not found:
            self.result.fail(f"{self.name}: HIT page answered {page.status_code}")
            return False
        data = json.loads(found.group(1))
        if self.fetch_static:
            static = self._get("static", "/static/app.css")
            if static.status_code != 200:
                self.result.fail(f"{self.name}: static file answered {static.status_code}")
        selected = []
        for item in data["items"]:
            image = self._get("image", item["img"])
            if image.status_code != 200:
                self.result.fail(f"{self.name}: image answered {image.status_code}")
                return False
            digest = pixel_key(image.content)  # the app varies every serve: look at what it shows
            with self.result.lock:
                self.result.repeats_seen += int(digest in self.seen)
            self.seen.add(digest)
            if self.answer(digest, data["class_key"]):
                selected.append(item["value"])
        form = {"csrf_token": csrf_from(page.text), "sel": selected}
        times = 2 if self.rng.random() < self.double_submit else 1
        for _ in range(times):
            sent = self._post("submit", data["submit"], form, allow_redirects=False)
            if sent.status_code != 302:
                self.result.fail(f"{self.name}: submit answered {sent.status_code}")
                return False
        done_page = self._get("done", sent.headers["Location"])
        with self.result.lock:
            self.result.submissions.append(Submission(self.name, data["submit"].split("/")[-2], data["class_key"],
                                                      [i["value"] for i in data["items"]], selected))
            if "qual-result" in done_page.text:
                self.result.qualified[self.name] = "Qualification passed" in done_page.text
        return True


def run_crowd(base_url: str, invite_code: str, profiles: Sequence[str], truth: TruthFn, seed: int = 0,
              max_hits: int | None = None, double_submit: float = 0.0, fetch_static: bool = False) -> SimResult:
    """Run one simulated worker per entry of ``profiles`` at once; returns what they did."""
    result = SimResult()
    seeds = np.random.SeedSequence(seed).spawn(len(profiles))
    workers = [SimulatedWorker(base_url, f"sim{k:03d}-{p}", p, truth, np.random.default_rng(s), result, max_hits,
                               double_submit, fetch_static) for k, (p, s) in enumerate(zip(profiles, seeds))]

    def one(worker: SimulatedWorker) -> None:
        try:
            if worker.join(invite_code):
                worker.run()
        except Exception as exc:  # a simulated client's crash is a failure to report, not to raise
            result.fail(f"{worker.name}: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, len(workers))) as pool:
        list(pool.map(one, workers))
    return result


@dataclass
class ReviewResult:
    decisions: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def scripted_review(base_url: str, username: str, password: str, truth: TruthFn,
                    label: Callable[[str], str | None] | None = None, max_items: int | None = None) -> ReviewResult:
    """Sign in and review the queue: accept what ``truth`` confirms, else relabel (``label`` gives the
    image's class key) or reject."""
    import requests

    http, base, out = requests.Session(), base_url.rstrip("/"), ReviewResult()
    page = http.get(base + "/login", timeout=30)
    signed = http.post(base + "/login", data={"csrf_token": csrf_from(page.text), "username": username,
                                              "password": password}, allow_redirects=False, timeout=30)
    if signed.status_code != 302:
        out.failures.append(f"login answered {signed.status_code}")
        return out
    last = None
    while max_items is None or sum(out.decisions.values()) < max_items:
        page = http.get(base + "/review", timeout=30)
        found = re.search(r'data-image="(\d+)" data-class-key="([^"]*)"', page.text)
        if page.status_code != 200 or not found:
            break
        image_id, class_key = found.group(1), html.unescape(found.group(2))
        retry, last = last == image_id, image_id
        src = html.unescape(re.search(r'<img class="big" src="([^"]+)"', page.text).group(1))
        digest = hashlib.sha256(http.get(base + src, timeout=30).content).hexdigest()
        form = {"csrf_token": csrf_from(page.text), "image_id": image_id,
                "class_id": re.search(r'name="class_id" value="(\d+)"', page.text).group(1)}
        true_key = label(digest) if label else None
        if truth(digest, class_key):
            form["decision"] = "accept"
        elif true_key and not retry:
            form.update(decision="relabel", new_class=true_key)
        else:
            form["decision"] = "reject"
        sent = http.post(base + "/review/decide", data=form, allow_redirects=False, timeout=30)
        if sent.status_code != 302:
            out.failures.append(f"decide answered {sent.status_code}")
            break
        out.decisions[form["decision"]] = out.decisions.get(form["decision"], 0) + 1
    return out
