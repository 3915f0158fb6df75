"""The per-request database session (annotate_ui.db, the flaskr layout) and the app/views import order."""

import subprocess
import sys

from sqlalchemy import func, select

from annotate_ui.db import get_db
from curation.db.models import Invite
from curation.db.session import session_scope
from tests.annotate_ui.conftest import make_app


def test_one_session_per_request_rolled_back_and_closed_at_teardown(sqlite_world):
    app = make_app(sqlite_world)
    with app.test_request_context():
        dbs = get_db()
        assert get_db() is dbs
        dbs.add(Invite(code="never-committed"))
        dbs.flush()
        assert dbs.in_transaction()
    assert not dbs.in_transaction()  # teardown ended it: rolled back and closed
    with app.test_request_context():
        assert get_db() is not dbs  # a new request, a new session
    with session_scope(sqlite_world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Invite)) == 0


def test_views_do_not_import_the_app_factory():
    code = ("import sys, annotate_ui.views.common, annotate_ui.views.worker, annotate_ui.db; "
            "print('annotate_ui.app' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
