"""Property-based fuzzing of the two doors users push bytes through: training configs (--set and
--config files) and `gridssl score` maps. Every malformed input gets exit code 2 and one short
message, and leaves no run directory; every map array gets a clear refusal or a documented result
(gridssl.cli.read_maps says which)."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridssl.cli import main
from gridssl.config import _SECTION_CLASSES

FUZZ = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)
FIELDS = {
    f"{sec}.{f.name}": (str(f.type), f.metadata)
    for sec, cls in _SECTION_CLASSES.items()
    for f in dataclasses.fields(cls)
}
NAME = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
JUNK = st.sampled_from(["", "abc", "[1, 2]", "{a: 1}", "none", "0x1g", "1,5", "--", "é", " "])
NONFINITE = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400"])


@st.composite
def bad_value(draw, key):
    """A value the field ``key`` must refuse (by construction)."""
    typ, meta = FIELDS[key]
    if typ.startswith("tuple"):  # "1,5" is a valid tuple: junk without it, or a bad element
        lower = meta["gt"] if meta["gt"] is not None else meta["ge"]
        junk = JUNK.filter(lambda v: v != "1,5")
        below = [] if lower is None else [st.just(f"1,{lower - 1}")]
        return draw(st.one_of(junk, NONFINITE.map(lambda v: f"1,{v}"), *below))
    if meta["choices"]:
        return draw(st.one_of(JUNK, NAME).filter(lambda v: v not in meta["choices"]))
    if typ == "bool":
        return draw(st.sampled_from(["maybe", "2", "-1", "nan", "", "yess", "1.0"]))
    bad = [JUNK, NONFINITE]
    lower = meta["gt"] if meta["gt"] is not None else meta["ge"]
    if lower is not None:  # below the bound: negative (or zero where > 0 is required)
        strict = meta["gt"] is not None
        bad.append(st.floats(-1e12, lower, exclude_max=not strict).map(repr))
    if meta["le"] is not None:
        bad.append(st.floats(meta["le"], 1e300, exclude_min=True).map(repr))
    if typ == "int":
        bad.append(st.integers(2**53 + 1, 10**40).map(str))  # huge
        bad.append(st.integers(-(10**40), -(2**53) - 1).map(str))
        bad.append(st.sampled_from(["1.5", "2.25", "1e-3", "true"]))
    return draw(st.one_of(*bad))


@st.composite
def bad_set(draw):
    kind = draw(st.sampled_from(["value", "value", "value", "unknown_key", "no_equals"]))
    if kind == "value":
        key = draw(st.sampled_from(sorted(FIELDS)))
        return f"{key}={draw(bad_value(key))}"
    if kind == "unknown_key":
        sec = draw(st.one_of(st.sampled_from(sorted(_SECTION_CLASSES)), NAME))
        key = f"{sec}.{draw(NAME)}" if draw(st.booleans()) else draw(NAME)
        if key in FIELDS:
            key += "_x"
        return f"{key}={draw(st.sampled_from(['1', 'x', '']))}"
    return draw(NAME)  # no '=' at all


def _main(argv):
    """cli.main in-process; argparse's own refusals exit through SystemExit (code 2)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def _refused(tmp_path, capsys, argv):
    out = tmp_path / "run"
    capsys.readouterr()
    code = _main(["train", "--preset", "tiny", "--out", str(out), "--quiet", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (argv, err)
    assert 1 <= len(err) <= 3 and "error:" in err[0], (argv, err)
    assert not out.exists(), argv


@settings(FUZZ, max_examples=60)
@given(item=bad_set())
def test_malformed_set_values_are_refused(tmp_path, capsys, item):
    _refused(tmp_path, capsys, ["--set", item])


@settings(FUZZ, max_examples=15)
@given(flag=st.sampled_from(["--steps", "--seed"]), value=st.one_of(JUNK, NONFINITE))
def test_malformed_steps_and_seed_are_refused(tmp_path, capsys, flag, value):
    _refused(tmp_path, capsys, [flag, value])


YAML_SCALAR = st.sampled_from([".nan", ".inf", "-.inf", "1e400", "-3", "[1, 2]", "{}", "~", "yes"])


@st.composite
def bad_yaml(draw):
    kind = draw(st.sampled_from(["empty", "list", "scalar", "section", "unknown", "value", "junk"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "\n", "# only a comment\n", "---\n"]))
    if kind == "list":
        return draw(st.sampled_from(["- 1\n- 2\n", "- train: {lr: 1}\n", "[]\n"]))
    if kind == "scalar":
        return draw(st.sampled_from(["3\n", "hello\n", ".nan\n", "true\n"]))
    if kind == "section":  # a section that is not a mapping
        sec = draw(st.sampled_from(sorted(_SECTION_CLASSES)))
        return f"{sec}: {draw(YAML_SCALAR.filter(lambda v: v not in ('{}', '~')))}\n"
    if kind == "unknown":
        return f"{draw(NAME)}_s:\n  {draw(NAME)}: 1\n"
    if kind == "value":
        key = draw(st.sampled_from(sorted(FIELDS)))
        sec, name = key.split(".")
        typ, meta = FIELDS[key]
        v = draw(YAML_SCALAR.filter(lambda v: not (typ == "bool" and v == "yes")))
        if v == "~" or (v == "-3" and typ == "float" and meta["ge"] is None and not meta["gt"]):
            v = "[1, 2]"  # null means "default"; every float field has a lower bound anyway
        return f"{sec}:\n  {name}: {v}\n"
    return draw(st.sampled_from(["train: {lr: [unclosed\n", "\tdata:\n", "a: b: c\n", "!!x 1"]))


@settings(FUZZ, max_examples=40)
@given(text=bad_yaml())
def test_malformed_config_files_are_refused(tmp_path, capsys, text):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    _refused(tmp_path, capsys, ["--config", str(f)])


@pytest.mark.parametrize(
    "item",
    [f"{k}={v}" for k, (typ, _) in FIELDS.items() if typ == "int" for v in (2**53 + 1, 10**30)]
    + ["train.seed=4294967296"],
)
def test_huge_integers_are_refused(tmp_path, capsys, item):
    """Every integer setting, beyond 2**53 (not exact as a float), and a seed beyond 2**32 - 1
    (seeds are combined with offsets in int64 generators)."""
    _refused(tmp_path, capsys, ["--set", item])


def test_config_file_that_is_not_text(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_bytes(b"\xff\xfe\x00binary")
    _refused(tmp_path, capsys, ["--config", str(f)])


# ------------------------------------------------------------------------------- gridssl score

REFUSED_KINDS = {"nan_only", "inf", "bool", "complex", "1d", "4d", "empty", "tiny", "object"}
REFUSED_KINDS |= {"huge", "text", "npz", "not_npy"}


def _maps(kind: str, draw) -> np.ndarray | None:
    """What to save for ``kind``: every malformed shape, dtype and value the issue lists, and
    the accepted cases (int dtype, one 2-D map, NaN-only units among good ones, negative rates).
    ``draw`` draws sizes and seeds (hypothesis, or fixed values)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    u, ny, nx = draw(st.integers(1, 4)), draw(st.integers(5, 12)), draw(st.integers(5, 12))
    good = rng.random((u, ny, nx))
    a = {
        "nan_only": np.full((u, ny, nx), np.nan),
        "inf": np.where(rng.random((u, ny, nx)) < 0.1, np.inf, good),
        "bool": good > 0.5,
        "complex": good + 1j,
        "1d": good.ravel(),
        "4d": good[None],
        "empty": np.zeros(draw(st.sampled_from([(0, ny, nx), (u, 0, nx), (0,), (u, ny, 0)]))),
        "tiny": good[:, : draw(st.integers(0, 4))],
        "object": good.astype(object),
        "huge": good * 1e200,
        "text": np.array(["a", "b"]),
        "int": (good * 10).astype(np.int64),
        "2d": good[0],
        "some_nan_units": np.concatenate([good, np.full((1, ny, nx), np.nan)]),
        "negative": good - 2.0,
        "float32": good.astype(np.float32),
    }.get(kind)
    return a


KINDS = sorted(REFUSED_KINDS | {"int", "2d", "some_nan_units", "negative", "float32"})


@pytest.mark.parametrize("kind", KINDS)
@settings(FUZZ, max_examples=3)
@given(data=st.data())
def test_score_takes_or_refuses_every_array(tmp_path, capsys, kind, data):
    """16 kinds x 3 generated arrays each (sizes, seeds, which empty axis, how tiny)."""
    maps = _maps(kind, data.draw)
    path = tmp_path / "m.npy"
    if kind == "npz":
        np.savez(tmp_path / "m.npz", a=np.zeros((1, 6, 6)))
        (tmp_path / "m.npz").replace(path)
    elif kind == "not_npy":
        path.write_text("unit,score\n1,0.5\n")
    else:
        np.save(path, maps, allow_pickle=kind == "object")
    capsys.readouterr()
    code = main(["score", str(path), "--bin-size", "0.05", "--shuffles", "3", "--json"])
    out, err = capsys.readouterr()
    if kind in REFUSED_KINDS:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "maps file" in lines[0], (kind, err)
        return
    assert code == 0, (kind, err)
    res = json.loads(out)
    n = 1 if maps.ndim == 2 else len(maps)
    assert res["summary"]["n_units"] == n and len(res["units"]) == n
    for unit, row in enumerate(res["units"]):
        assert isinstance(row["grid_cell"], bool)
        assert row["grid_score"] is None or -1.0 <= row["grid_score"] <= 2.0
        if kind == "some_nan_units" and unit == n - 1:  # documented: NaN, never a grid cell
            assert row["grid_score"] is None and row["grid_cell"] is False


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--bin-size", "nan"], "--bin-size 'nan'"),
        (["--bin-size", "inf"], "--bin-size 'inf'"),
        (["--bin-size", "0.05", "--shuffles", "-1"], "--shuffles -1"),
        (["--bin-size", "0.05", "--seed", "-4"], "--seed -4"),
        (["--bin-size", "0.05", "--block-bins", "9"], "--block-bins 9"),
    ],
)
def test_score_option_refusals(tmp_path, capsys, args, needle):
    path = tmp_path / "m.npy"
    np.save(path, np.random.default_rng(0).random((2, 12, 12)))
    assert main(["score", str(path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
