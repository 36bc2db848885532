"""Each task states the band counts and sizes the other config sections must use."""

from __future__ import annotations

import pytest

import gan_engine as ge


def _i2i(**task: object) -> dict[str, object]:
    return {"Task": {"name": "image_to_image", **task}, "Data": {"name": "synthetic_i2i", "bands": 4},
            "Generator": {"name": "unet", "base_channels": 8, "depth": 2},
            "Discriminator": {"name": "patchgan", "base_channels": 8}}


def test_image_to_image_fills_generator_discriminator_and_data_bands() -> None:
    cfg = ge.load_config(_i2i(in_bands=2))
    assert (cfg.Generator.in_channels, cfg.Generator.out_channels) == (2, 4)
    assert cfg.Discriminator.in_channels == 6 and cfg.Data.in_bands == 2
    same = ge.load_config(_i2i())
    assert same.Data.in_bands == 4 and same.Discriminator.in_channels == 8


def test_image_to_image_disagreement_is_reported_with_both_values() -> None:
    raw = _i2i(in_bands=2)
    raw["Data"] = {"name": "synthetic_i2i", "bands": 4, "in_bands": 3}  # type: ignore[assignment]
    with pytest.raises(ge.ConfigError, match=r"Data\.in_bands: is 3 but the task 'image_to_image' implies 2"):
        ge.load_config(raw)


def test_inpainting_adds_the_mask_channel_to_the_generator_only() -> None:
    cfg = ge.load_config({"Task": {"name": "inpainting"}, "Data": {"name": "synthetic_inpainting", "bands": 5},
                          "Generator": {"name": "unet", "base_channels": 8, "depth": 2},
                          "Discriminator": {"name": "patchgan", "base_channels": 8}})
    assert (cfg.Generator.in_channels, cfg.Generator.out_channels, cfg.Discriminator.in_channels) == (6, 5, 5)


def test_synthesis_fills_latent_size_and_classes() -> None:
    cfg = ge.load_config({"Task": {"name": "synthesis", "latent_dim": 24, "num_classes": 4},
                          "Data": {"name": "synthetic_synthesis", "bands": 3, "size": 16},
                          "Generator": {"name": "dcgan", "image_size": 16},
                          "Discriminator": {"name": "patchgan", "base_channels": 8, "n_layers": 2},
                          "Losses": {"content": []}, "Training": {"pretrain_steps": 0}})
    assert (cfg.Generator.latent_dim, cfg.Generator.n_classes, cfg.Generator.out_channels) == (24, 4, 3)
    assert cfg.Data.num_classes == 4 and cfg.Discriminator.in_channels == 7
    with pytest.raises(ge.ConfigError, match=r"Generator\.latent_dim: is 16 but the task 'synthesis' implies 24"):
        ge.load_config({"Task": {"name": "synthesis", "latent_dim": 24}, "Data": {"name": "synthetic_synthesis"},
                        "Generator": {"name": "dcgan", "latent_dim": 16, "image_size": 32},
                        "Losses": {"content": []}, "Training": {"pretrain_steps": 0}})


def test_synthesis_refuses_content_losses_and_pretraining() -> None:
    with pytest.raises(ge.ConfigError) as err:
        ge.load_config({"Task": {"name": "synthesis"}, "Data": {"name": "synthetic_synthesis"},
                        "Generator": {"name": "dcgan", "image_size": 32}})
    assert set(err.value.paths) >= {"Losses.content", "Training.pretrain_steps"}
    assert "has no target to compare the output with; set 'Losses.content: []'" in str(err.value)
