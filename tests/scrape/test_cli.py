"""The command line: help with examples, and ``curate emulator flickr`` as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests


def test_help_has_examples(cli):
    for args in (("scrape", "--help"), ("scrape", "status", "--help"), ("download", "--help"),
                 ("emulator", "flickr", "--help")):
        assert "Example" in cli(*args).output


def test_emulator_command_serves_until_interrupted(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "curation", "emulator", "flickr", "--per-cell", "2",
                                "--reference-out", str(tmp_path / "ref"), "--ground-truth", str(tmp_path / "gt.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        info = json.loads(next(line for line in lines if line.startswith("{")))
        answer = requests.get(info["rest_url"], params={"method": "flickr.photos.search", "api_key": info["api_key"],
                                                        "text": "goldfish", "format": "json", "nojsoncallback": 1})
        assert answer.json()["stat"] == "ok" and answer.json()["photos"]["total"] > 0
        assert (tmp_path / "gt.json").exists() and any((tmp_path / "ref").rglob("*.jpg"))
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0 and "served 1 API calls" in err
