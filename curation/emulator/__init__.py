"""An offline, Flickr-compatible emulator with a procedurally generated renditions corpus.

``FlickrEmulator`` serves ``flickr.photos.search``, ``flickr.photos.licenses.getInfo`` and an image
host on 127.0.0.1, with fault injection and request counting; ``build_corpus`` makes its photos.
The offline demo's scrape stage that drives it lives in :mod:`curate_demo.scrape`.
"""

from curation.emulator.corpus import Corpus, CorpusConfig, PhotoSpec, build_corpus, write_reference_set
from curation.emulator.server import DEFAULT_KEY, DEFAULT_SECRET, Faults, FlickrEmulator

__all__ = ["Corpus", "CorpusConfig", "PhotoSpec", "build_corpus", "write_reference_set", "DEFAULT_KEY",
           "DEFAULT_SECRET", "Faults", "FlickrEmulator"]
