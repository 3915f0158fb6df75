"""The [annotate] settings: defaults, curate.toml values, refusals with the valid names."""

from __future__ import annotations

import pytest

from annotate_ui.config import AnnotateConfig, config_from_settings, load_config
from curation.config import load_settings
from curation.errors import CurateError


def test_defaults_follow_imagenet_v2():
    cfg = AnnotateConfig()
    assert (cfg.candidates_per_hit, cfg.gold_positives_per_hit, cfg.gold_negatives_per_hit) == (42, 3, 3)
    assert cfg.workers_per_image == 5 and (cfg.min_frequency, cfg.min_votes) == (0.7, 5)


def test_curate_toml_section_is_read_and_cast(tmp_path):
    (tmp_path / "curate.toml").write_text('[annotate]\nworkers_per_image = "10"\nreopen_flagged = "false"\n'
                                          'min_frequency = 0.6\n')
    cfg = config_from_settings(load_settings(tmp_path, {}), min_votes=3)
    assert cfg.workers_per_image == 10 and cfg.reopen_flagged is False
    assert cfg.min_frequency == 0.6 and cfg.min_votes == 3


@pytest.mark.parametrize("values, message", [({"workers": 3}, "valid: "), ({"min_frequency": 2}, "between 0 and 1"),
                                             ({"cookie_samesite": "Loose"}, "Lax, Strict or None"),
                                             ({"min_votes": "many"}, "must be a int")])
def test_bad_settings_are_refused_with_a_clear_message(values, message):
    with pytest.raises(CurateError, match=message):
        load_config(values)
