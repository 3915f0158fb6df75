"""``curate users``, ``curate invites`` and a real ``curate serve`` (waitress in a subprocess)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from curation.db.models import User, Worker
from curation.db.session import connect, session_scope


def test_users_create_takes_the_password_from_env_or_prompt_never_argv(workspace, cli, monkeypatch):
    monkeypatch.setenv("CURATE_USER_PASSWORD", "a long enough secret")
    assert "admin boss created" in cli("users", "create", "boss", "--role", "admin").output
    monkeypatch.delenv("CURATE_USER_PASSWORD")
    out = cli("users", "create", "rev", input="another long secret\nanother long secret\n").output
    assert "reviewer rev created" in out and "another long secret" not in out
    assert "at least 10" in cli("users", "create", "weak", input="short\nshort\n", ok=False).output
    assert "exists" in cli("users", "create", "rev", input="another long secret\n" * 2, ok=False).output
    listing = cli("users", "list").output
    assert "boss" in listing and "admin" in listing
    engine = connect(os.environ["CURATE_DB"])
    with session_scope(engine) as session:
        hashes = session.scalars(select(User.password_hash)).all()
    engine.dispose()
    assert all("secret" not in h and h.startswith(("scrypt:", "pbkdf2:")) for h in hashes)


def test_invites_and_worker_tokens(workspace, cli):
    link = cli("invites", "create", "--uses", "2", "--days", "7", "--note", "pilot",
               "--base-url", "https://label.example").output.strip()
    assert re.fullmatch(r"https://label\.example/join/[\w-]{20,}", link)
    out = cli("invites", "token", "--worker", "crowd-42").output
    assert re.search(r"worker crowd-42: http://127\.0\.0\.1:8000/t/[\w-]{20,}", out)
    assert "pilot" in cli("invites", "list").output
    engine = connect(os.environ["CURATE_DB"])
    with session_scope(engine) as session:
        assert session.scalar(select(Worker.token).where(Worker.external_id == "crowd-42"))
    engine.dispose()


def test_task_links_are_signed_for_one_worker(workspace, cli, monkeypatch):
    import hashlib
    import hmac
    from urllib.parse import parse_qs, urlsplit

    assert "no platform secret" in cli("invites", "task-link", "--worker", "A1", ok=False).output
    monkeypatch.setenv("CURATE_PLATFORM_SECRET", "s3cret")
    assert "must not be blank" in cli("invites", "task-link", "--worker", " ", ok=False).output
    link = cli("invites", "task-link", "--worker", "A1", "--base-url", "https://label.example").output.strip()
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "label.example", "/task")
    assert query["sig"] == hmac.new(b"s3cret", b"worker:A1", hashlib.sha256).hexdigest()


def test_every_command_has_an_example(cli):
    for args in (["hits", "create"], ["hits", "list"], ["gold", "import"], ["gold", "from-reviews"], ["serve"],
                 ["gold", "list"], ["aggregate"], ["users", "create"], ["users", "list"], ["invites", "create"],
                 ["invites", "token"], ["invites", "list"], ["invites", "task-link"]):
        assert "Example:" in cli(*args, "--help").output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_curate_serve_runs_waitress(tmp_path, monkeypatch):
    from curation.cli import root

    monkeypatch.delenv("CURATE_DB", raising=False)
    ws = tmp_path / "ws"
    assert CliRunner().invoke(root, ["init", str(ws)]).exit_code == 0
    port = _free_port()
    env = {**os.environ, "CURATE_WORKSPACE": str(ws)}
    env.pop("CURATE_SECRET_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "curation", "serve", "--port", str(port), "--threads", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, response = time.monotonic() + 60, None
        while time.monotonic() < deadline and response is None:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200
        assert response.headers["Server"] == "curate" and "HttpOnly" in response.headers["Set-Cookie"]
        assert "secret_key" in (ws / "secrets.toml").read_text()
        assert oct((ws / "secrets.toml").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
