"""Database: the schema (``models``), engines and sessions (``session``), migrations."""

from curation.db.models import Base
from curation.db.session import connect, session_scope, upgrade

__all__ = ["Base", "connect", "session_scope", "upgrade"]
