import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import root
from curation.config import load_settings
from curation.errors import CurateError, WorkspaceNotFound
from curation.workspace import create_workspace, find_workspace


def test_find_workspace_from_parents_env_and_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATE_WORKSPACE", raising=False)
    ws = create_workspace(tmp_path / "ws")
    deep = ws / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(cwd=deep) == ws
    assert find_workspace(str(ws)) == ws
    monkeypatch.setenv("CURATE_WORKSPACE", str(ws))
    assert find_workspace(cwd=tmp_path) == ws


def test_missing_workspace_names_the_command_that_creates_one(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATE_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceNotFound, match="curate init"):
        find_workspace(cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(root, ["status"])
    assert result.exit_code == 1
    assert "curate init" in result.output
    assert "Traceback" not in result.output


def test_settings_precedence(tmp_path):
    ws = create_workspace(tmp_path / "ws")
    (ws / "curate.toml").write_text('[curate]\ndefault_license = "from-file"\nmax_image_bytes = 10\n'
                                    '[scrape]\nper_page = 250\n')
    settings = load_settings(ws, environ={})
    assert settings.default_license == "from-file" and settings.max_image_bytes == 10
    assert settings.section("scrape")["per_page"] == 250
    settings = load_settings(ws, environ={"CURATE_DEFAULT_LICENSE": "from-env"})
    assert settings.default_license == "from-env"
    settings = load_settings(ws, {"default_license": "from-cli"}, environ={"CURATE_DEFAULT_LICENSE": "from-env"})
    assert settings.default_license == "from-cli"
    assert settings.database_url.endswith("curate.sqlite")


def test_bad_config_is_a_clear_error(tmp_path):
    ws = create_workspace(tmp_path / "ws")
    (ws / "curate.toml").write_text("[curate]\nstore_dri = 'x'\n")
    with pytest.raises(CurateError, match="store_dri"):
        load_settings(ws, environ={})
    (ws / "curate.toml").write_text("[curate\n")
    with pytest.raises(CurateError, match="not valid TOML"):
        load_settings(ws, environ={})


def test_unreachable_database_names_the_url(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATE_DB", raising=False)
    create_workspace(tmp_path / "ws")
    url = "postgresql+psycopg://someone:s3cret@127.0.0.1:1/nothing"
    result = CliRunner().invoke(root, ["--workspace", str(tmp_path / "ws"), "--db", url, "status"])
    assert result.exit_code == 1
    assert "127.0.0.1:1/nothing" in result.output and "s3cret" not in result.output
    assert "refused" in result.output.lower()


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t=time.perf_counter(); from curation.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('torch','flask','pandas','flickrapi','sqlalchemy','numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stderr
    assert "init" in out.stdout and "status" in out.stdout


def test_every_registered_command_loads():
    from curation.cli import COMMANDS

    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(root, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output
