"""Loihi 2 hardware path: honest detection, both branches."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.backends import loihi
from toolkit.backends.loihi import LoihiStatus, loihi_status, run_loihi2
from toolkit.cli import main
from toolkit.errors import BackendUnavailableError


def _present() -> LoihiStatus:
    return LoihiStatus(lava_loihi=True, nc_models=True, spike_adapters=True, board_reachable=True, env={})


def test_absent_here():
    status = loihi_status()
    assert not status.available
    assert "lava-loihi" in status.reason() and status.reason().count(".") == 1  # one sentence


def test_cli_refuses_with_one_sentence(capsys):
    code = main(["run", "--backend", "loihi2"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "lava-loihi" in err and "--backend lava-sim" in err


def test_run_refuses_when_absent(compiled_rate):
    with pytest.raises(BackendUnavailableError, match="lava-loihi"):
        run_loihi2(compiled_rate, np.zeros((1, 64)))


def test_present_branch_uses_hw_config_and_adapters(monkeypatch, compiled_rate):
    monkeypatch.setattr(loihi, "loihi_status", _present)
    seen = {}

    def fake_run_lava(graph, x, **kw):
        seen.update(kw)
        return "ran"

    monkeypatch.setattr("toolkit.backends.lava_sim.run_lava", fake_run_lava)
    monkeypatch.setattr(loihi, "_hw_config", lambda: "Loihi2HwCfg")
    assert run_loihi2(compiled_rate, np.zeros((1, 64)), progress=False) == "ran"
    assert seen["hardware"] is True and seen["run_cfg"] == "Loihi2HwCfg"


def test_present_but_broken_extension_is_reported(monkeypatch, compiled_rate):
    monkeypatch.setattr(loihi, "loihi_status", _present)

    def fails(graph, x, **kw):
        raise NameError("name 'CLoihiProcessModel' is not defined")

    monkeypatch.setattr("toolkit.backends.lava_sim.run_lava", fails)
    monkeypatch.setattr(loihi, "_hw_config", lambda: None)
    with pytest.raises(BackendUnavailableError, match="lava-loihi could not run the network"):
        run_loihi2(compiled_rate, np.zeros((1, 64)))


def test_hw_config_is_lavas(monkeypatch):
    from lava.magma.core.run_configs import Loihi2HwCfg

    cfg = loihi._hw_config()
    assert isinstance(cfg, Loihi2HwCfg)
    # the CPU-side processes (input generator, readout) must take the bit-exact fixed-point models
    assert cfg.select_tag == "fixed_pt"


def test_hardware_lowering_inserts_spike_adapters(monkeypatch, compiled_rate):
    """With lava-loihi present the lowering puts its Py<->Nx adapters around the chip part."""
    import sys
    import types

    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess

    class _Adapter(AbstractProcess):
        def __init__(self, shape):
            super().__init__(shape=shape)
            self.inp = InPort(shape=shape)
            self.out = OutPort(shape=shape)

    fake = types.ModuleType("lava.proc.embedded_io.spike")
    fake.PyToNxAdapter = type("PyToNxAdapter", (_Adapter,), {})
    fake.NxToPyAdapter = type("NxToPyAdapter", (_Adapter,), {})
    pkg = types.ModuleType("lava.proc.embedded_io")
    pkg.spike = fake
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io", pkg)
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io.spike", fake)
    from compilers.lava.lower import lower_to_lava

    build = lower_to_lava(compiled_rate, np.zeros((2, 64), np.int32), timesteps=8, hardware=True)
    assert type(build.processes["input_adapter"]).__name__ == "PyToNxAdapter"
    assert type(build.processes["output_adapter"]).__name__ == "NxToPyAdapter"
