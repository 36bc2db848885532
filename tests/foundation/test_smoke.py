import gan_engine as ge


def test_default_config_is_valid_and_round_trips() -> None:
    cfg = ge.load_config({})
    assert ge.load_config(cfg.to_dict()).to_dict() == cfg.to_dict()
