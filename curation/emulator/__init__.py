"""An offline, Flickr-compatible emulator with a procedurally generated renditions corpus.

``FlickrEmulator`` serves ``flickr.photos.search``, ``flickr.photos.licenses.getInfo`` and an image
host on 127.0.0.1, with fault injection and request counting; ``build_corpus`` makes its photos;
``demo_scrape`` runs the scrape stage of the offline demo against it.
"""

from curation.emulator.corpus import Corpus, CorpusConfig, PhotoSpec, build_corpus, write_reference_set
from curation.emulator.demo import demo_scrape, write_demo_reference
from curation.emulator.server import DEFAULT_KEY, DEFAULT_SECRET, Faults, FlickrEmulator

__all__ = ["Corpus", "CorpusConfig", "PhotoSpec", "build_corpus", "write_reference_set", "demo_scrape",
           "write_demo_reference", "DEFAULT_KEY", "DEFAULT_SECRET", "Faults", "FlickrEmulator"]
