"""The queries behind ``curate gold|users|invites list``: each one statement, rows worked out by hand."""

import datetime as dt

from annotate_ui.accounts import invite_rows, user_rows
from annotate_ui.quality import gold_by_class
from curation.db.models import ClassSet, GoldItem, Image, ImageClass, Invite, User, Worker
from tests.sqlcount import statements


def test_gold_by_class(session, engine):
    class_set = ClassSet(name="toy")
    cat, dog, boat = (ImageClass(class_set=class_set, key=k, name=k.upper(), position=i)
                      for i, k in enumerate(("cat", "dog", "boat")))
    images = [Image(sha256=f"{i:064x}", n_bytes=1) for i in range(5)]
    session.add_all([class_set, cat, dog, boat, *images])
    session.flush()
    answers = [(cat, True), (cat, True), (cat, False), (dog, False), (dog, False)]
    session.add_all([GoldItem(image_id=img.id, class_id=cls.id, answer=ans)
                     for img, (cls, ans) in zip(images, answers)])
    session.commit()
    with statements(engine) as sent:
        rows = gold_by_class(session)
    assert rows == [("cat", "CAT", 2, 1), ("dog", "DOG", 0, 2)]  # boat has no gold: not listed
    assert len(sent) == 1


def test_user_and_invite_rows(session, engine):
    worker = Worker(external_id="w-7")
    session.add(worker)
    session.flush()
    session.add_all([User(username="zoe", password_hash="x", role="admin"),
                     User(username="al", password_hash="x", worker_id=worker.id)])
    expires = dt.datetime(2030, 1, 2, 3, 4, 5)
    session.add_all([Invite(code="first", uses_left=None, note="pilot"),
                     Invite(code="second", uses_left=3, expires_at=expires)])
    session.commit()
    with statements(engine) as sent:
        users = user_rows(session)
        invites = invite_rows(session)
    assert [u[:3] for u in users] == [("al", "reviewer", "w-7"), ("zoe", "admin", None)]
    assert all(isinstance(u[3], dt.datetime) for u in users)
    assert invites == [("first", None, None, "pilot"), ("second", 3, expires, "")]
    assert len(sent) == 2
