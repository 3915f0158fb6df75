"""The shared command helpers: one ``pass_cli``, one ``print_table`` that right-aligns number columns."""

from pathlib import Path

from curation.clikit import print_table

ROOT = Path(__file__).resolve().parents[2]


def test_print_table_aligns_numbers_right_and_text_left(capsys):
    print_table("t", ["name", "count"], [("a", 1), ("abc", 100)], width=60)
    lines = [line for line in capsys.readouterr().out.splitlines() if "│" in line]
    cells = {tuple(c for c in line.split("│")[1:-1]) for line in lines}
    assert (" a    ", "     1 ") in cells and (" abc  ", "   100 ") in cells, lines


def test_mixed_column_stays_left(capsys):
    print_table("t", ["uses"], [("∞",), (3,)], width=40)
    lines = [line for line in capsys.readouterr().out.splitlines() if "│" in line]
    assert any(line.split("│")[1] == " 3    " for line in lines), lines


def test_command_helpers_are_defined_once():
    defining = sorted(str(p.relative_to(ROOT)) for pkg in ("curation", "annotate_ui", "splits", "models")
                      for p in (ROOT / pkg).rglob("*.py")
                      if "make_pass_decorator(" in p.read_text() or "def print_table(" in p.read_text())
    assert defining == ["curation/clikit.py"]
