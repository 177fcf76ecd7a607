"""Hardware configs: typed, frozen, validated with file and key path in every error."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
import yaml

from toolkit.errors import ConfigError
from toolkit.hw import hw_config_dir, load_hw


@pytest.mark.parametrize("name, cores, neurons", [("loihi2", 128, 8192), ("loihi1", 128, 1024)])
def test_shipped_configs_load(name, cores, neurons):
    hw = load_hw(name)
    assert hw.name == name and hw.chip.neuro_cores == cores and hw.core.max_neurons == neurons
    assert hw.neuron.vth_max == 131071 and hw.neuron.bias_mant_max == 4095
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.core.max_neurons = 1  # type: ignore[misc]


def test_every_value_cites_a_source():
    for path in hw_config_dir().glob("*.yaml"):
        lines = path.read_text().splitlines()
        for line in lines:
            stripped = line.strip()
            if ":" in stripped and not stripped.startswith("#") and not stripped.endswith(":"):
                key, value = stripped.split(":", 1)
                if key in ("name", "generation"):
                    continue
                assert "#" in value or _comment_above(lines, line), f"{path.name}: {stripped} has no source"


def _comment_above(lines: list[str], line: str) -> bool:
    i = lines.index(line)
    return i > 0 and lines[i - 1].strip().startswith("#")


def _write(tmp_path, mutate):
    data = yaml.safe_load((hw_config_dir() / "loihi2.yaml").read_text())
    mutate(data)
    p = tmp_path / "custom.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_unknown_key_names_file_and_path(tmp_path):
    p = _write(tmp_path, lambda d: d["core"].update(max_neuronz=5))
    pattern = r"custom\.yaml: core\.max_neuronz: unknown key \(valid keys here: .*max_neurons"
    with pytest.raises(ConfigError, match=pattern):
        load_hw(p)


def test_out_of_range_value(tmp_path):
    p = _write(tmp_path, lambda d: d["core"].update(max_neurons=90000))
    with pytest.raises(ConfigError, match=r"custom\.yaml: core\.max_neurons: must be <= 65536 \(got 90000\)"):
        load_hw(p)


def test_wrong_type_and_missing_key(tmp_path):
    p = _write(tmp_path, lambda d: d["synapse"].update(weight_bits="eight"))
    with pytest.raises(ConfigError, match=r"synapse\.weight_bits: must be an int"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["neuron"].pop("threshold_bits"))
    with pytest.raises(ConfigError, match=r"neuron\.threshold_bits: required key is missing"):
        load_hw(p)


def test_inconsistent_values(tmp_path):
    p = _write(tmp_path, lambda d: d["synapse"].update(graded_spikes=False))
    with pytest.raises(ConfigError, match="max_message_bits: must be 0 when graded_spikes is false"):
        load_hw(p)


def test_unknown_name_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown hardware config 'loihi9'.*loihi1, loihi2"):
        load_hw("loihi9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("core: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_hw(bad)


# --- learning engine limits -------------------------------------------------------------------------------


def _lava_learning_values() -> dict[str, object]:
    """Every ``learning:`` value as Lava 0.10 defines or enforces it (the Loihi 2 model)."""
    from lava.magma.core.learning import constants as c
    from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate as Model

    factor_bits = {("const" if sym == "C" else sym): width for sym, width in c.FACTOR_TO_WIDTH_DICT.items()}
    return {
        "scale_mant_min": -(1 << (c.W_S_MANT - 1)),
        "scale_mant_max": (1 << (c.W_S_MANT - 1)) - 1,
        "scale_exp_min": -7,  # product_series.py: no constant; checked against Lava's parser below
        "scale_exp_max": 8,
        "shift_mant_bits": c.W_S_MANT,
        "accumulator_bits": c.W_ACCUMULATOR_U,
        "factor_bits": factor_bits,
        "trace_bits": c.W_TRACE,
        "trace_impulse_int_max": (1 << c.W_TRACE) - 1,
        "trace_impulse_frac_bits": c.W_TRACE_FRACTIONAL_PART,
        "trace_tau_min": 1,
        "trace_tau_max": (1 << Model.x1_tau.precision) - 1,
        "weight_min": -(1 << c.W_WEIGHTS_U),
        "weight_max": (1 << c.W_WEIGHTS_U) - 1,
        "tag_min": -(1 << c.W_TAG_1_U),
        "tag_max": (1 << c.W_TAG_1_U) - 1,
        "delay_min": 0,
        "delay_max": (1 << c.W_TAG_2_U) - 1,
        "t_epoch_min": 1,
        "t_epoch_max": (1 << c.W_EPOCH_TIME) - 1,
        "epoch_time_bits": c.W_EPOCH_TIME,
        "decimate_exp_min": 0,
        "decimate_exp_max": 9,
        "max_products_per_rule": None,
        "max_factors_per_product": None,
    }


# Loihi 1 values that differ from Lava's model, each from nengo-loihi or Brian2Loihi (see loihi1.yaml).
_LOIHI1_OWN = {"shift_mant_bits": 3, "trace_impulse_frac_bits": 7, "delay_max": 62}


@pytest.mark.parametrize("name", ["loihi2", "loihi1"])
def test_learning_limits_are_lavas(name):
    lrn = load_hw(name).learning
    assert lrn is not None
    expected = _lava_learning_values()
    if name == "loihi1":
        expected.update(_LOIHI1_OWN)
    got = dataclasses.asdict(lrn)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == value, f"{name}.yaml learning.{key} = {got[key]!r}, expected {value!r}"
    assert lrn.trace_max == 127
    with pytest.raises(dataclasses.FrozenInstanceError):
        lrn.trace_bits = 8  # type: ignore[misc]


def test_learning_limits_match_lavas_checks():
    """The limits Lava enforces in code rather than in constants.py, tried at and past each bound."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule

    lrn = load_hw("loihi2").learning
    assert lrn is not None

    def accepts(dw: str, **kw) -> bool:
        try:
            Loihi2FLearningRule(dw=dw, **kw)
        except ValueError:
            return False
        return True

    # odd mantissas cannot be folded into the exponent; -8 * 2^8 cannot fold either (exponent at its maximum)
    assert accepts(f"{lrn.scale_mant_max}*x0*y1") and not accepts(f"{lrn.scale_mant_max + 2}*x0*y1")
    assert accepts(f"{lrn.scale_mant_min}*2^{lrn.scale_exp_max}*x0*y1")
    assert not accepts(f"{lrn.scale_mant_min - 1}*x0*y1")
    assert accepts(f"2^{lrn.scale_exp_max}*x0*y1") and not accepts(f"2^{lrn.scale_exp_max + 1}*x0*y1")
    assert accepts(f"2^{lrn.scale_exp_min}*x0*y1") and not accepts(f"2^{lrn.scale_exp_min - 1}*x0*y1")
    assert accepts("x0*y1", t_epoch=lrn.t_epoch_min) and not accepts("x0*y1", t_epoch=lrn.t_epoch_min - 1)
    assert accepts("x0*y1", x1_tau=0) and not accepts("x0*y1", x1_tau=-1)  # tau 0: accepted, but keeps no trace
    assert Loihi2FLearningRule(dw=f"u{lrn.decimate_exp_max}*x1").decimate_exponent == lrn.decimate_exp_max
    assert Loihi2FLearningRule(dw=f"u{lrn.decimate_exp_min}*x1").decimate_exponent == lrn.decimate_exp_min
    # one digit only: "u10" is read as u1 times 0
    assert Loihi2FLearningRule(dw=f"u{lrn.decimate_exp_max + 1}*x1").decimate_exponent != lrn.decimate_exp_max + 1


def test_product_shift_is_lavas():
    from lava.magma.core.learning.constants import FACTOR_TO_WIDTH_DICT, W_ACCUMULATOR_U, W_S_MANT
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule

    lrn = load_hw("loihi2").learning
    assert lrn is not None
    rule = Loihi2FLearningRule(dw="2^-4 * x0 * y1 - y0 * x1 * y3 + u2 * w * t * y2 - x0 * y0 * (x2 - 3)",
                               dt="y0 * sgn(d + 2) * x1 * x2 * y1 * y2")
    products = [p for series in rule.active_product_series.values() for p in series.products]
    assert len(products) == 5
    for p in products:
        symbols = [f.state_var for f in p.factors]
        lava_shift = max(0, sum(FACTOR_TO_WIDTH_DICT[s] for s in symbols) + W_S_MANT - W_ACCUMULATOR_U)
        assert lrn.product_shift(symbols) == lava_shift, symbols
    assert lrn.product_shift(["x1", "y3"]) == 3 and lrn.product_shift(["y1"]) == 0
    with pytest.raises(KeyError, match="unknown learning-rule factor 'u'"):
        lrn.product_shift(["u"])


def test_learning_section_key_path_errors(tmp_path):
    p = _write(tmp_path, lambda d: d["learning"].pop("trace_tau_max"))
    with pytest.raises(ConfigError, match=r"custom\.yaml: learning\.trace_tau_max: required key is missing"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"]["factor_bits"].pop("y3"))
    with pytest.raises(ConfigError, match=r"custom\.yaml: learning\.factor_bits\.y3: required key is missing"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"].update(trace_bitz=7))
    with pytest.raises(ConfigError, match=r"learning\.trace_bitz: unknown key \(valid keys here: .*trace_bits"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"].update(t_epoch_min=0))
    with pytest.raises(ConfigError, match=r"learning\.t_epoch_min: must be >= 1 \(got 0\)"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"].update(t_epoch_max=64))
    with pytest.raises(ConfigError, match=r"learning\.t_epoch_max: must be <= 2\*\*epoch_time_bits - 1 \(63\)"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"].update(scale_exp_max=-1))
    with pytest.raises(ConfigError, match=r"learning\.scale_exp_max: must be >= 0 \(got -1\)"):
        load_hw(p)
    p = _write(tmp_path, lambda d: d["learning"].update(decimate_exp_min=5, decimate_exp_max=4))
    with pytest.raises(ConfigError, match=r"learning\.decimate_exp_max: must be >= decimate_exp_min \(5\), got 4"):
        load_hw(p)


def test_config_without_learning_section(tmp_path):
    p = _write(tmp_path, lambda d: d.pop("learning"))
    assert load_hw(p).learning is None


_TAG = re.compile(r"(?:^|\s)\[([a-z][a-z0-9-]*)\]")  # " [lava]", not "DICT[x0]"


@pytest.mark.parametrize("name", ["loihi2", "loihi1"])
def test_every_learning_value_cites_a_defined_source(name):
    lines = (hw_config_dir() / f"{name}.yaml").read_text().splitlines()
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    defined = {m.group(1) for line in header if (m := re.match(r"#\s+\[([a-z][a-z0-9-]*)\]", line))}
    start = lines.index("learning:")
    section = list(itertools.takewhile(lambda line: line.startswith((" ", "#")) or not line,
                                       lines[start + 1:]))
    values = [line for line in section if not line.lstrip().startswith("#") and not line.rstrip().endswith(":")]
    assert len(values) == len(_lava_learning_values()) - 1 + 11  # factor_bits is 11 lines, not one
    for line in values:
        assert "#" in line, f"{name}.yaml: {line.strip()!r} has no source comment"
        comment = line.split("#", 1)[1].strip()
        tags = _TAG.findall(comment)
        assert _TAG.match(comment), f"{name}.yaml: {line.strip()!r}: the comment must start with a [tag]"
        assert set(tags) <= defined, f"{name}.yaml: {line.strip()!r} cites {set(tags) - defined}, not in the header"
