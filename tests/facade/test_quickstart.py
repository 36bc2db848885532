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


def test_srresnet_image_skip_starts_at_bicubic() -> None:
    import pytest
    import torch
    import torch.nn.functional as F

    g = ge.generators.build("srresnet", in_channels=3, scale=4, n_channels=8, n_blocks=1, image_skip=True)
    torch.nn.init.zeros_(g.tail.weight)
    torch.nn.init.zeros_(g.tail.bias)
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(g(x), F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))
    with pytest.raises(ValueError, match=r"image_skip .* needs out_channels == in_channels"):
        ge.generators.build("srresnet", in_channels=3, out_channels=1, image_skip=True)
