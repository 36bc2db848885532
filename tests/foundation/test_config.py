"""Configuration: schema, strict loading, overrides, every error with its path, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import gan_engine as ge

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference-config.yaml"  # a copy of the lead's


def issues_of(source: object, overrides: list[str] | None = None) -> dict[str, str]:
    with pytest.raises(ge.ConfigError) as info:
        ge.load_config(source, overrides=overrides)  # type: ignore[arg-type]
    return {issue.path: issue.message for issue in info.value.issues}


def test_empty_config_is_the_valid_quickstart() -> None:
    cfg = ge.load_config({})
    assert cfg.Task.name == "super_resolution" and cfg.Data.name == "synthetic_sr"
    assert cfg.Generator.in_channels == cfg.Data.bands == cfg.Discriminator.in_channels
    assert cfg.Generator.scale == cfg.Task.scale == cfg.Data.scale
    assert ge.load_config(None).to_dict() == cfg.to_dict()


def test_to_dict_round_trips_through_yaml(tmp_path: Path) -> None:
    cfg = ge.load_config({}, overrides=["Training.max_steps=77", "Training.pretrain_steps=7", "Generator.n_blocks=2"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    again = ge.load_config(path)
    assert again.to_dict() == cfg.to_dict()
    assert again.Training.max_steps == 77 and again.Generator.n_blocks == 2


def test_json_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"Training": {"max_steps": 12, "pretrain_steps": 3}}))
    assert ge.load_config(path).Training.max_steps == 12


def test_loading_a_config_object_revalidates_it() -> None:
    cfg = ge.load_config({})
    assert ge.load_config(cfg, overrides=["Project.seed=7"]).Project.seed == 7


def test_overrides_parse_yaml_scalars_and_flow_collections() -> None:
    cfg = ge.load_config({}, overrides=[
        "Losses.content=[{name: l1, weight: 1.0}, {name: mse, weight: 0.5}]",
        "Optimizers.generator.lr=1e-4",  # PyYAML reads this as a string; numeric fields accept it
        "Optimizers.generator.betas=[0.0, 0.99]",
        "Training.EMA.enabled=false",
        "Losses.content.1.weight=0.25",
    ])
    assert [(c.name, c.weight) for c in cfg.Losses.content] == [("l1", 1.0), ("mse", 0.25)]
    assert cfg.Optimizers.generator.lr == pytest.approx(1e-4)
    assert cfg.Optimizers.generator.betas == [0.0, 0.99]
    assert cfg.Training.EMA.enabled is False


def test_malformed_override_is_reported() -> None:
    assert "KEY=VALUE" in issues_of({}, ["Training.max_steps"])["Training.max_steps"]


def test_every_problem_is_collected_with_its_dotted_path() -> None:
    problems = issues_of({
        "Traning": {},
        "Training": {"max_step": 3, "precision": "fp16", "label_smoothing": 0.7, "d_update_interval": "often"},
        "Generator": {"name": "srresnt"},
        "Losses": {"content": [{"name": "l1", "weight": -1}]},
    })
    assert "did you mean 'Training'" in problems["Traning"]
    assert "did you mean 'max_steps'" in problems["Training.max_step"]
    assert "'32', '16', 'bf16'" in problems["Training.precision"]
    assert problems["Training.label_smoothing"] == "must be ≥ 0 and < 0.5, got 0.7"
    assert "expected int" in problems["Training.d_update_interval"]
    assert "did you mean 'srresnet'" in problems["Generator.name"]
    assert problems["Losses.content.0.weight"] == "must be ≥ 0, got -1.0"


def test_error_message_lists_the_source_file_and_count(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("Training:\n  max_stepz: 4\n")
    with pytest.raises(ge.ConfigError) as info:
        ge.load_config(path)
    assert str(path) in str(info.value) and "1 problem" in str(info.value)
    assert info.value.paths == ["Training.max_stepz"]


def test_component_parameters_are_checked_against_the_signature() -> None:
    problems = issues_of({"Generator": {"n_blocs": 3}, "Discriminator": {"name": "srgan", "depth": 2}})
    assert "closest: 'n_blocks'" in problems["Generator.n_blocs"]
    assert "accepts:" in problems["Discriminator.depth"]


def test_unknown_component_names_in_every_section_are_reported() -> None:
    problems = issues_of({"Task": {"name": "super_res"}, "Losses": {"adversarial": {"name": "bcee"}},
                          "Normalization": {"name": "zscor"}})
    assert "super_resolution" in problems["Task.name"]
    assert "did you mean 'bce'" in problems["Losses.adversarial.name"]
    assert "Normalization.name" in problems


def test_changing_a_component_drops_the_previous_components_parameters() -> None:
    ge.generators.register("plain", _Plain)
    cfg = ge.load_config({"Generator": {"name": "plain"}})
    assert "n_blocks" not in cfg.Generator.params


class _Plain(torch.nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int | None = None, scale: int = 4) -> None:
        super().__init__()


def test_band_counts_must_agree_between_data_generator_and_discriminator() -> None:
    problems = issues_of({"Data": {"bands": 6}, "Generator": {"in_channels": 4}, "Discriminator": {"in_channels": 3}})
    assert "Data.bands=6" in problems["Generator.in_channels"]
    assert "Data.bands=6" in problems["Discriminator.in_channels"]


def test_band_count_is_derived_from_the_data_section() -> None:
    cfg = ge.load_config({"Data": {"bands": 13}})
    assert cfg.Generator.in_channels == cfg.Generator.out_channels == cfg.Discriminator.in_channels == 13


def test_scale_must_agree_between_task_data_and_generator() -> None:
    problems = issues_of({"Task": {"scale": 2}, "Generator": {"scale": 4}, "Data": {"scale": 8}})
    assert "Task.scale" in problems["Generator.scale"] and "Task.scale" in problems["Data.scale"]
    assert ge.load_config({"Task": {"scale": 2}}).Generator.scale == 2


def test_pretraining_must_end_before_training_does() -> None:
    problems = issues_of({"Training": {"max_steps": 10, "pretrain_steps": 10}})
    assert "below Training.max_steps (10)" in problems["Training.pretrain_steps"]


def test_automatic_optimisation_is_refused_with_the_reason() -> None:
    message = issues_of({"Training": {"manual_optimization": False}})["Training.manual_optimization"]
    assert "manual optimisation" in message and "Lightning 2" in message


@pytest.mark.parametrize(("key", "ours"), [("gradient_clip_val", "Training.Stability.gradient_clip_val"),
                                          ("accumulate_grad_batches", "Training.accumulate_grad_batches"),
                                          ("max_steps", "Training.max_steps")])
def test_trainer_keys_lightning_rejects_point_to_ours(key: str, ours: str) -> None:
    assert ours in issues_of({"Trainer": {key: 1}})[f"Trainer.{key}"]


def test_unknown_trainer_argument_is_reported() -> None:
    assert "did you mean 'max_epochs'" in issues_of({"Trainer": {"max_epoch": 3}})["Trainer.max_epoch"]
    assert ge.load_config({"Trainer": {"max_epochs": 3}}).Trainer == {"max_epochs": 3}


def test_adversarial_and_content_losses_are_not_interchangeable() -> None:
    problems = issues_of({"Losses": {"content": [{"name": "bce"}], "adversarial": {"name": "l1"}}})
    assert "Losses.adversarial" in problems["Losses.content.0.name"]
    assert "not an adversarial loss" in problems["Losses.adversarial.name"]


def test_missing_and_unparsable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ge.ConfigError, match="not found"):
        ge.load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Training: [unclosed\n")
    with pytest.raises(ge.ConfigError, match="cannot parse"):
        ge.load_config(bad)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(ge.ConfigError, match="top level must be a mapping"):
        ge.load_config(top)


def test_yaml_is_read_with_a_safe_loader(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("Project: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ge.ConfigError, match="cannot parse"):
        ge.load_config(path)


def test_json_schema_covers_every_section_and_default() -> None:
    schema = ge.config_schema()
    props = schema["properties"]
    assert set(props) == {"Project", "Task", "Data", "Normalization", "Generator", "Discriminator", "Losses",
                          "Training", "Optimizers", "Schedulers", "Logging", "Callbacks", "Trainer"}
    max_steps = props["Training"]["properties"]["max_steps"]
    assert max_steps["type"] == "integer" and max_steps["minimum"] == 1 and max_steps["description"]
    assert max_steps["default"] == ge.load_config({}).Training.max_steps
    assert props["Training"]["additionalProperties"] is False
    assert props["Generator"]["additionalProperties"] is True and props["Generator"]["required"] == ["name"]
    json.dumps(schema)


def test_reference_config_of_the_project_lead_is_accepted_in_shape() -> None:
    """Every section and fixed key of the reference config exists in the schema."""
    raw = yaml.safe_load(REFERENCE.read_text())
    schema = ge.config_schema()["properties"]
    for section, body in raw.items():
        assert section in schema, section
        if schema[section].get("additionalProperties") is False:
            for key in body:
                assert key in schema[section]["properties"], f"{section}.{key}"


def test_generator_that_cannot_reach_the_task_scale_is_refused() -> None:
    message = issues_of({"Generator": {"name": "unet"}})["Generator.name"]
    assert "supports scale 1" in message and "Task.scale is 4" in message
    assert ge.load_config({"Task": {"scale": 1}, "Generator": {"name": "unet"}}).Generator.scale == 1


def test_parse_resolve_check_are_separate_steps_and_only_resolve_fills_values() -> None:
    import copy

    from gan_engine.config.checks import check_config
    from gan_engine.config.parse import convert
    from gan_engine.config.resolve import resolve

    issues: list[ge.errors.ConfigIssue] = []
    parsed = convert(ge.Config, {"Data": {"bands": 4}, "Generator": {"name": "srresnet", "n_blocks": 2}}, "",
                     issues, default=ge.Config())
    assert issues == [] and "in_channels" not in parsed.Generator.params
    before = copy.deepcopy(parsed)
    check_config(parsed)                       # reports only ...
    assert parsed == before                    # ... and changes nothing
    resolved, derived = resolve(parsed)
    assert derived == [] and parsed == before  # the input is not changed either
    assert resolved.Generator.params["in_channels"] == 4 and resolved.Generator.params["n_blocks"] == 2
    assert resolved.Generator.params["n_channels"] == 32  # the plain default of the signature, stated
    assert check_config(resolved) == []
    # a value that disagrees with the implied one is reported by resolve, never overwritten
    parsed.Generator.params["in_channels"] = 3
    resolved, derived = resolve(parsed)
    assert [i.path for i in derived] == ["Generator.in_channels"] and resolved.Generator.params["in_channels"] == 3
