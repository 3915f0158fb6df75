"""Load benchmark of the labeling app: 50 concurrent simulated workers against ``curate serve``.

A fresh workspace gets synthetic candidates and gold for a fixed number of HITs; ``curate serve``
(waitress) runs in a subprocess on 127.0.0.1; 50 simulated workers join by invite and label
through HTTP until every HIT has its workers. Reported: p50/p99 latency of HIT pages, images,
submits and leases, HITs completed per second, and, as the baseline measured in the same run on
the same server, the latency of a static file (each worker fetches the stylesheet once per HIT).

Targets: HIT page p99 within 10x the static file's p99; no request failing; every vote the simulated
workers sent stored exactly once, and every assignment they submitted stored exactly once as finished
with no HIT holding more finished assignments than its slots (a lost or duplicated vote or assignment
misses its target and exits non-zero). The tally is the simulated workers' own record of what the
server acknowledged, counted independently of the database rows it is compared with.

    python bench/ui_load.py            # full: 40 HITs of 48 images (42 + 3 + 3 gold), 5 workers each
    python bench/ui_load.py --quick    # smoke: 8 HITs of 12 images
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(workspace: Path, classes: int, hits_per_class: int, candidates: int, gold_pos: int, gold_neg: int,
          workers: int, seed: int):
    """A workspace with ``classes`` x ``hits_per_class`` HITs; returns (settings, truth, invite code)."""
    from annotate_ui.accounts import create_invite
    from annotate_ui.config import load_config
    from tests.fixtures.world import make_world
    from annotate_ui.hits import create_hits
    from curation.config import load_settings
    from curation.db.session import connect, session_scope, upgrade
    from curation.store import ImageStore
    from curation.taxonomy import ClassDef, ensure_class_set
    from curation.workspace import create_workspace

    create_workspace(workspace)
    settings = load_settings(workspace, {})
    engine = connect(settings.database_url)
    upgrade(engine)
    cfg = load_config(None, candidates_per_hit=candidates, gold_positives_per_hit=gold_pos,
                      gold_negatives_per_hit=gold_neg, workers_per_image=workers, min_gold_answers=10 ** 6)
    rng = np.random.default_rng(seed)
    # Enough gold that a worker can take many HITs without ever seeing an image twice.
    gold = cfg.examples_per_class + 3 * gold_pos * hits_per_class
    with session_scope(engine) as session:
        defs = [ClassDef(f"c{k}", f"class {k}", None, f"synthetic class number {k}") for k in range(classes)]
        class_set = ensure_class_set(session, "bench", defs, "load benchmark")
        truth = make_world(session, ImageStore(settings.store_path), list(class_set.classes),
                           candidates * hits_per_class, gold, rng)
        for cls in class_set.classes:
            create_hits(session, cls, cfg, rng, "benchmark")
        code = create_invite(session, note="bench").code
    engine.dispose()
    return settings, truth, code


def start_server(workspace: Path, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "CURATE_WORKSPACE": str(workspace), "CURATE_SECRET_KEY": "bench-" + os.urandom(8).hex()}
    env.pop("CURATE_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "curation", "serve", "--port", str(port), "--threads", str(threads)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/static/app.css", timeout=2).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("curate serve did not start within 60 s")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


Stored = tuple[dict[str, int], list[tuple[str, str, bool]], list[tuple[str, int, str]]]


def stored_state(settings) -> Stored:
    """(assignments per status, every stored vote as (assignment, item token, ticked), every assignment as
    (public id, HIT id, status))."""
    from sqlalchemy import func, select

    from curation.db.models import Assignment, HitItem, Vote
    from curation.db.session import connect, session_scope

    engine = connect(settings.database_url)
    with session_scope(engine) as session:
        counts = dict(session.execute(select(Assignment.status, func.count()).group_by(Assignment.status)).all())
        votes = [(a, t, bool(s)) for a, t, s in session.execute(
            select(Assignment.public_id, HitItem.token, Vote.selected)
            .join(Assignment, Assignment.id == Vote.assignment_id).join(HitItem, HitItem.id == Vote.hit_item_id))]
        assignments = [tuple(r) for r in session.execute(
            select(Assignment.public_id, Assignment.hit_id, Assignment.status))]
    engine.dispose()
    return counts, votes, assignments


def vote_errors(result, votes: list[tuple[str, str, bool]]) -> tuple[int, int]:
    """(lost, duplicated): answers the simulated workers sent that the database lacks or holds other
    than sent, and stored votes beyond one per (assignment, item)."""
    expected = {(s.assignment, token, token in s.selected) for s in result.submissions for token in s.items}
    stored = set(votes)
    duplicated = len(votes) - len(stored) + len(stored - expected)
    return len(expected - stored), duplicated


FINISHED = ("submitted", "rejected")


def assignment_errors(result, assignments: list[tuple[str, int, str]], per_hit: int) -> tuple[int, int]:
    """(lost, duplicated) assignments: ones the simulated workers submitted (the server acknowledged them)
    that the database lacks as finished; and finished rows the workers never submitted, acknowledgements
    of one assignment to two submissions, or HITs holding more counted assignments than ``per_hit``."""
    sent = [s.assignment for s in result.submissions]
    finished = {a for a, _, status in assignments if status in FINISHED}
    counted = collections.Counter(hit for _, hit, status in assignments if status == "submitted")
    overfilled = sum(max(0, n - per_hit) for n in counted.values())
    duplicated = len(sent) - len(set(sent)) + len(finished - set(sent)) + overfilled
    return len(set(sent) - finished), duplicated


def report(result, seconds: float, expected_hits: int, per_hit: int, counts: dict[str, int],
           votes: list[tuple[str, str, bool]], assignments: list[tuple[str, int, str]]) -> bool:
    print(f"\n{'request':<10} {'count':>7} {'p50 ms':>9} {'p99 ms':>9}")
    for kind in ("static", "hit_page", "image", "submit", "start", "done"):
        values = result.latencies.get(kind, [])
        print(f"{kind:<10} {len(values):>7} {pct(values, 50):>9.1f} {pct(values, 99):>9.1f}")
    done = result.hits_done
    print(f"\nHIT assignments completed: {done} in {seconds:.1f} s = {done / seconds:.2f} HITs/s; in the database: "
          f"{counts.get('submitted', 0)} counted of {expected_hits} slots, {counts.get('rejected', 0)} of flagged "
          f"workers (their HITs reopened), {counts.get('leased', 0)} still leased")
    ratio = pct(result.latencies.get("hit_page", []), 99) / pct(result.latencies.get("static", []), 99)
    failed = len(result.failures)
    lost, duplicated = vote_errors(result, votes)
    a_lost, a_duplicated = assignment_errors(result, assignments, per_hit)
    for line in result.failures[:5]:
        print(f"failure: {line}")
    print(f"TARGET hit_page_p99_vs_static_p99: {ratio:.1f}x (target <= 10x) {'met' if ratio <= 10 else 'missed'}")
    print(f"TARGET failed_requests: {failed} (target 0) {'met' if failed == 0 else 'missed'}")
    ok_votes = lost == 0 and duplicated == 0 and bool(votes)
    print(f"TARGET votes_lost_or_duplicated: {lost} lost, {duplicated} duplicated of {len(votes)} stored "
          f"(target 0 and 0) {'met' if ok_votes else 'missed'}")
    ok_assign = a_lost == 0 and a_duplicated == 0 and bool(result.submissions)
    print(f"TARGET assignments_lost_or_duplicated: {a_lost} lost, {a_duplicated} duplicated of "
          f"{len(result.submissions)} submitted (target 0 and 0) {'met' if ok_assign else 'missed'}")
    filled = counts.get("submitted", 0)
    print(f"TARGET hit_slots_filled: {filled} of {expected_hits} (target all) "
          f"{'met' if filled == expected_hits else 'missed'}")
    return ratio <= 10 and failed == 0 and ok_votes and ok_assign and filled == expected_hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A reduced smoke run (8 HITs of 12 images).")
    parser.add_argument("--workers", type=int, default=50, help="Concurrent simulated workers.")
    parser.add_argument("--threads", type=int, default=16, help="Server request threads.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    classes, per_class, cand, gp, gn = (4, 2, 8, 2, 2) if args.quick else (8, 5, 42, 3, 3)
    per_image = 5
    from curate_demo.crowd import run_crowd

    with tempfile.TemporaryDirectory(prefix="curate-ui-load-") as tmp:
        workspace = Path(tmp) / "ws"
        started = time.perf_counter()
        settings, truth, code = build(workspace, classes, per_class, cand, gp, gn, per_image, args.seed)
        n_hits = classes * per_class
        print(f"workspace with {n_hits} HITs of {cand + gp + gn} images, {per_image} workers per image "
              f"built in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_server(workspace, port, args.threads)
        try:
            crew = ["honest"] * (args.workers - args.workers // 10) + ["careless"] * (args.workers // 10)
            started = time.perf_counter()
            result = run_crowd(f"http://127.0.0.1:{port}", code, crew, truth, seed=args.seed, fetch_static=True)
            seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=15)
        print(f"{args.workers} concurrent simulated workers against curate serve (waitress, {args.threads} threads)")
        return 0 if report(result, seconds, n_hits * per_image, per_image, *stored_state(settings)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
