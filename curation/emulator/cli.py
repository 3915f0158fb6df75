"""``curate emulator flickr``: run the offline Flickr emulator until Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def emulator() -> None:
    """Offline emulators of the services curate talks to."""


@emulator.command("flickr")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (0 = a free one).")
@click.option("--class", "classes", multiple=True, help="Generator class (default: five); repeatable.")
@click.option("--style", "styles", multiple=True, help="Style (default: photo, sketch, cartoon, painting, origami).")
@click.option("--per-cell", type=click.IntRange(1), default=10, help="Photos per (class, style).")
@click.option("--plants", type=click.IntRange(0), default=2, help="Planted duplicates/bad images of each kind.")
@click.option("--deleted", type=click.IntRange(0), default=2, help="Photos served as Flickr's placeholder.")
@click.option("--noai", type=click.IntRange(0), default=1, help="Photos served with X-Robots-Tag: noai.")
@click.option("--placeholder", type=click.Choice(["template", "foreign-png", "foreign-jpeg"]), default="template",
              help="What deleted photos are served as: curate's drawn template, or another design (PNG or JPEG).")
@click.option("--small-originals", type=click.IntRange(0), default=0,
              help="Genuine photos uploaded at 500x374 (the placeholder's size).")
@click.option("--seed", type=int, default=0, help="Corpus and fault seed.")
@click.option("--latency", type=float, default=0.0, help="Seconds added to every request.")
@click.option("--error-rate", type=float, default=0.0, help="Share of API calls failing with code 10/105.")
@click.option("--http5xx-rate", type=float, default=0.0, help="Share of API and image requests answered 5xx.")
@click.option("--http429-rate", type=float, default=0.0, help="Share of image requests answered 429 + Retry-After.")
@click.option("--truncate-rate", type=float, default=0.0, help="Share of images cut short.")
@click.option("--invalid-key", is_flag=True, help="Refuse every key (code 100).")
@click.option("--cap", type=click.IntRange(1), default=4000, help="Distinct results per search (Flickr: about 4,000).")
@click.option("--max-side", type=click.IntRange(16), default=320, help="Longest side of served images, in pixels.")
@click.option("--field-types", type=click.Choice(["modern", "legacy", "mixed"]), default="modern",
              help="Numbers as ints (modern) or strings (legacy responses).")
@click.option("--reference-out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the corpus's reference set to this folder.")
@click.option("--ground-truth", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the corpus's ground truth (class, style, plants) to this JSON file.")
def flickr(port: int, classes: tuple[str, ...], styles: tuple[str, ...], per_cell: int, plants: int, deleted: int,
           noai: int, placeholder: str, small_originals: int, seed: int, latency: float, error_rate: float, http5xx_rate: float, http429_rate: float,
           truncate_rate: float, invalid_key: bool, cap: int, max_side: int, field_types: str,
           reference_out: Path | None, ground_truth: Path | None) -> None:
    """Serve a generated renditions corpus through a Flickr-compatible API and image host on 127.0.0.1.

    \b
    Example:
      curate emulator flickr --port 8765 --latency 0.05
      # in another shell, with the key and secret it prints:
      export FLICKR_API_KEY=... FLICKR_API_SECRET=...
      curate scrape --rest-url http://127.0.0.1:8765/services/rest/ --class goldfish --keyword cartoon
    """
    import signal
    import threading

    from curation.emulator import CorpusConfig, Faults, FlickrEmulator, build_corpus, write_reference_set
    from curation.errors import CurateError

    defaults = CorpusConfig()
    try:
        corpus = build_corpus(CorpusConfig(classes=classes or defaults.classes, styles=styles or defaults.styles,
                                           per_cell=per_cell, plants=plants, deleted=deleted, noai=noai,
                                           small_originals=small_originals), seed)
    except ValueError as exc:
        raise CurateError(str(exc)) from exc
    faults = Faults(latency_s=latency, api_error_rate=error_rate, api_5xx_rate=http5xx_rate,
                    image_5xx_rate=http5xx_rate, image_429_rate=http429_rate, truncate_rate=truncate_rate,
                    invalid_key=invalid_key, placeholder=placeholder)
    if reference_out:
        click.echo(f"reference set: {len(write_reference_set(corpus, reference_out))} images in {reference_out}")
    if ground_truth:
        corpus.write_ground_truth(ground_truth)
        click.echo(f"ground truth: {ground_truth}")
    with FlickrEmulator(corpus, port=port, faults=faults, cap=cap, max_side=max_side, field_types=field_types,
                        seed=seed) as emu:
        click.echo(json.dumps({"rest_url": emu.rest_url, "api_key": emu.api_key, "api_secret": emu.api_secret,
                               "photos": len(corpus.photos)}))
        click.echo(f"export FLICKR_API_KEY={emu.api_key} FLICKR_API_SECRET={emu.api_secret} "
                   f"CURATE_FLICKR_REST_URL={emu.rest_url}")
        click.echo("serving; Ctrl-C (or SIGTERM) stops", err=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        click.echo(f"served {len(emu.counters.api_calls)} API calls and {emu.counters.image_requests} images", err=True)
