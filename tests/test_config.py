import math

import pytest

from gridssl.config import ConfigError, config_from_dict, load_config, preset_names


def test_presets_load_and_paper_matches_spec():
    assert {"paper", "cpu", "tiny"} <= set(preset_names())
    p = load_config("paper")
    assert (p.data.batch_size, p.data.seq_len, p.model.n_units) == (130, 60, 128)
    assert (p.train.lr, p.train.grad_clip, p.train.grad_accum, p.train.steps) == (
        2e-5,
        0.1,
        2,
        2_000_000,
    )
    assert (p.loss.sigma_x, p.loss.sigma_g) == (0.05, 0.4)
    assert (p.loss.w_sep, p.loss.w_inv, p.loss.w_cap) == (1.0, 0.1, 0.5)


def test_layers_override_in_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("loss:\n  sigma_g: 0.7\ntrain:\n  lr: 0.01\n")
    c = load_config("tiny", f, ["train.lr=0.02", "data.mode=identity"], train__steps="7")
    assert c.loss.sigma_g == 0.7 and c.train.lr == 0.02 and c.train.steps == 7
    assert c.data.mode == "identity" and c.model.n_units == 16


def test_roundtrip():
    c = load_config("cpu")
    assert config_from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(preset="nope"), "unknown preset 'nope'"),
        (dict(preset="tiny", overrides=["model.colour=3"]), "unknown config key 'model.colour'"),
        (dict(preset="tiny", overrides=["loss.sigma_x=-1"]), "loss.sigma_x = -1.0"),
        (dict(preset="tiny", overrides=["data.batch_size=0"]), "must be > 0"),
        (dict(preset="tiny", overrides=["train.lr=-0.1"]), "train.lr = -0.1"),
        (dict(preset="tiny", overrides=["train.lr=fast"]), "expected a number"),
        (dict(preset="tiny", overrides=["train.steps=1.5"]), "expected an integer"),
        (dict(preset="tiny", overrides=["data.mode=shuffle"]), "choose one of"),
        (dict(preset="tiny", overrides=["loss.sep_weighting=log"]), "'uniform', 'octave'"),
        (dict(preset="tiny", overrides=["lr"]), "expected KEY=VALUE"),
        (dict(file="/no/such.yaml"), "does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(kwargs, needle):
    with pytest.raises(ConfigError) as e:
        load_config(**kwargs)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg


def test_groups_must_divide_units_and_iso_range_follows_the_step():
    with pytest.raises(ConfigError, match=r"model.groups = 5 .* must divide model.n_units = 48"):
        load_config("cpu", overrides=["model.groups=5"])
    cfg = load_config("cpu", overrides=["model.groups=3"]).model
    assert cfg.groups == 3
    loss = load_config("cpu", overrides=["loss.iso_max_step=0.05", "loss.iso_full_until=100"]).loss
    assert loss.iso_range(0) == math.inf and loss.iso_range(99) == math.inf
    assert loss.iso_range(100) == 0.05
    assert load_config("paper").loss.iso_range(0) == 0.05  # default: the paper's range at once


def test_sep_weighting_setting():
    assert load_config("cpu").loss.sep_weighting == "uniform"
    loss = load_config("cpu", overrides=["loss.sep_weighting=octave"]).loss
    assert loss.sep_weighting == "octave"
