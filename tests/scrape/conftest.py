"""Fixtures for the scrape tests: an emulator on a free port, credentials pointing at it."""

from __future__ import annotations

from typing import Iterator

import pytest

from curation.emulator import CorpusConfig, Faults, FlickrEmulator, build_corpus


@pytest.fixture
def start_emulator():
    """``start_emulator(config=..., faults=..., **kw)`` starts an emulator that stops after the test."""
    started: list[FlickrEmulator] = []

    def start(config: CorpusConfig | None = None, seed: int = 0, faults: Faults | None = None,
              **kwargs) -> FlickrEmulator:
        emu = FlickrEmulator(build_corpus(config or CorpusConfig(per_cell=6), seed=seed), faults=faults,
                             max_side=kwargs.pop("max_side", 96), seed=seed, **kwargs).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(start_emulator) -> FlickrEmulator:
    return start_emulator()


@pytest.fixture
def flickr_env(monkeypatch, emulator) -> Iterator[FlickrEmulator]:
    """The emulator's key, secret and REST URL in the environment, as a user would set them."""
    monkeypatch.setenv("FLICKR_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLICKR_API_SECRET", emulator.api_secret)
    monkeypatch.setenv("CURATE_FLICKR_REST_URL", emulator.rest_url)
    yield emulator
