"""``python -m curation`` runs the ``curate`` command line."""

from curation.cli import main

main()
