"""The quickstart configuration is the default configuration, and it is a sound recipe."""

from __future__ import annotations

from pathlib import Path

import gan_engine as ge

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "configs" / "quickstart.yaml"


def test_the_defaults_are_the_quickstart() -> None:
    assert ge.load_config(QUICKSTART).to_dict() == ge.load_config({}).to_dict()


def test_the_quickstart_recipe() -> None:
    cfg = ge.load_config(QUICKSTART)
    t = cfg.Training
    assert 0 < t.pretrain_steps < t.max_steps  # L1 pretraining, then an adversarial phase
    assert [c.name for c in cfg.Losses.content] == ["l1"] and cfg.Losses.adversarial.name == "bce"
    assert cfg.Losses.adversarial.weight <= 1e-2 and t.EMA.enabled
    assert cfg.Generator.image_skip and cfg.Data.name == "synthetic_sr"  # starts at bicubic, learns the residual
