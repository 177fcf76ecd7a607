"""``calibrate_readout``: the rate-coded output layer's operating range (no silent all-zero outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from compilers.floateval import float_forward
from compilers.frontend import from_torch
from compilers.passes import balance_thresholds, calibrate_readout, fold_biases
from compilers.passes.balance import READOUT_FLOOR
from toolkit import ir
from toolkit.backends.reference import simulate
from toolkit.errors import GraphError


@pytest.fixture(scope="module")
def balanced(trained_fa_noise, digits):
    model, arch, _ = trained_fa_noise
    return balance_thresholds(fold_biases(from_torch(model, arch.in_shape)), calibration=digits[0].x)


def test_readout_map_keeps_every_prediction_and_puts_top_logits_in_range(balanced, digits):
    mapped = calibrate_readout(balanced, calibration=digits[0].x)
    for x in (digits[0].x, digits[1].x):
        before, after = float_forward(balanced, x)["output"], float_forward(mapped, x)["output"]
        np.testing.assert_array_equal(after.argmax(1), before.argmax(1))
    top = float_forward(mapped, digits[0].x)["output"].max(1)
    inside = (top >= READOUT_FLOOR - 1e-9) & (top <= 1 + 1e-9)
    assert inside.mean() >= 0.99
    assert mapped.record(ir.PassLog).passes[-1] == "calibrate_readout" and mapped.record(ir.Readout).scale > 0


def test_rate_network_gives_every_test_image_some_output_spike(compiled_rate, digits):
    assert "calibrate_readout" in compiled_rate.record(ir.PassLog).passes
    res = simulate(compiled_rate, digits[1].x)
    assert np.mean(res.scores.max(1) == 0) <= 0.005


def test_readout_needs_logits_as_last_group(balanced, digits):
    relu_last = balanced.with_nodes([ir.ReLU(name=n.name, shape=n.shape, bias=n.bias) if isinstance(n, ir.Identity)
                                     else n for n in balanced.nodes])
    with pytest.raises(GraphError, match="must be the logits"):
        calibrate_readout(relu_last, calibration=digits[0].x)
