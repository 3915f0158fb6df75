"""Every command documents every option, and ``train --help`` names every shipped recipe."""

from pathlib import Path

import click

from curation.cli import root


def _walk(ctx: click.Context, cmd: click.Command, path: str):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                yield from _walk(ctx, sub, f"{path} {name}")


def test_every_option_has_help_text():
    ctx = click.Context(root)
    bare = [(path, p.opts[0]) for path, cmd in _walk(ctx, root, "curate") for p in cmd.params
            if isinstance(p, click.Option) and not p.hidden and not p.help]
    assert bare == []


def test_train_help_lists_every_shipped_recipe(cli):
    recipes = sorted(p.stem for p in (Path(__file__).parents[2] / "models" / "recipes").glob("*.toml"))
    text = "".join(cli("train", "--help").output.split())  # click wraps long names at hyphens
    assert len(recipes) >= 9 and [r for r in recipes if f"{r}," not in text and f"{r}." not in text] == []
