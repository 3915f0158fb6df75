"""Every duplicate group leaves the tool: paged in the HTML report and as CSV/JSON data."""

import json
import shutil


def test_every_group_is_paged_and_exported_with_identical_copies(workspace, cli, planted, tmp_path):
    folder, kinds = planted
    shutil.copy(folder / "orig5.jpg", folder / "orig5 copy.jpg")  # byte-identical: merged at import
    cli("import", folder)
    cli("filter", "--workers", "1")
    # planted copies: reencode0~orig0, big1~orig1, mirror2~orig2, and orig3.jpg with its two PNGs
    pairs = {frozenset(p) for p in (("reencode0.jpg", "orig0.jpg"), ("big1.jpg", "orig1.jpg"),
                                    ("mirror2.jpg", "orig2.jpg"), ("orig3.jpg", "orig3.png", "orig3-again.png"))}
    out = cli("filter", "report", "--out", tmp_path / "r.html", "--page-size", "1", "--groups",
              tmp_path / "g.json").output
    groups = json.loads((tmp_path / "g.json").read_text())
    assert len(groups) == len(pairs) + 1  # the four planted pairs + orig5's identical copy
    assert "5 duplicate groups on 5 page(s)" in out
    assert sorted(p.name for p in tmp_path.glob("r*.html")) == ["r-2.html", "r-3.html", "r-4.html", "r-5.html",
                                                                 "r.html"]
    found = set()
    for group in groups:
        members = [m for m in group["members"] if m["role"] != "identical-copy"]
        names = frozenset(m["relative_path"] for m in members)
        if group["kind"] == "identical":
            copies = [m["relative_path"] for m in group["members"] if m["role"] == "identical-copy"]
            assert names | set(copies) == {"orig5.jpg", "orig5 copy.jpg"} and len(copies) == 1
            continue
        found.add(names)
        assert sorted(m["decision"] for m in members) == ["kept"] + ["rejected"] * (len(members) - 1)
        assert [m["role"] for m in members].count("keeper") == 1
    assert found == pairs
    page = (tmp_path / "r.html").read_text()
    assert "identical copies merged</td><td>1<" in page and 'href="r-2.html"' in page
    assert "identical copies merged" in cli("status").output
