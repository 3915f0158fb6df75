"""The offline demo (``curate demo``): the whole pipeline on an emulated Flickr, with a simulated crowd.

One module per stage, wired together by :mod:`curate_demo.cli`, the demo's composition root:
``scrape`` (emulator -> scrape -> download), ``filters``, ``labeling`` (with ``world``, the simulated
reality, and ``crowd``, the simulated workers and reviewer), ``mini_r`` (splits, export, verify) and
``training`` (train, corrupt, evaluate, report). ``noise2net`` is a one-minute Noise2Net demonstration
called from Python. No shipped package imports this one (``docs/architecture.md``).
"""
