"""Shared fixtures: seeds, a small trained digits model, its compiled network.

Tests are hermetic: no network access, no reading argv or DISPLAY, outputs in tmp_path.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    np.random.seed(0)
    return 0


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (small networks train faster so, also on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits():
    from toolkit.data import load_digits

    return load_digits(seed=0)


@pytest.fixture(scope="session")
def trained_fa_noise(digits):
    """An FA MLP on digits with noise pretraining (a few seconds to train)."""
    from toolkit.training import (
        Arch,
        NoiseConfig,
        Rule,
        TrainConfig,
        build_model,
        fit,
        pretrain_on_noise,
    )

    train, test = digits
    arch = Arch(in_shape=(64,), hidden=(100,), n_classes=10, rule=Rule.FA)
    model = build_model(arch, seed=0)
    pretrain_on_noise(model, arch.in_shape, 10, NoiseConfig(steps=1000), seed=0, progress=False)
    history = fit(model, train, test, TrainConfig(epochs=15), seed=0, progress=False)
    return model, arch, history


@pytest.fixture(scope="session")
def compiled_rate(trained_fa_noise, digits):
    """The trained model compiled for Loihi 2 (rate coding, T = 32)."""
    from compilers.driver import compile_model
    from compilers.passes import CompileOptions
    from toolkit.hw import load_hw

    model, arch, _ = trained_fa_noise
    opts = CompileOptions(hw=load_hw("loihi2"), calibration=digits[0].x, timesteps=32)
    return compile_model(model, arch.in_shape, opts)


@pytest.fixture
def lif_chain():
    """Factory: a quantised chain Input -> (Dense -> LoihiLIF)* -> Output from integer weight matrices."""
    from toolkit import ir

    def build(weights, *, in_shape=None, vth=100, timesteps=16, bias_mant=None, bias_exp=6, du=4095, dv=0,
              weight_exp=0, encoding=None):
        n_in = int(np.prod(in_shape)) if in_shape else weights[0].shape[1]
        nodes = [ir.Input(name="in", shape=tuple(in_shape or (n_in,)), encoding=encoding or ir.Encoding.RATE)]
        for i, w in enumerate(weights, start=1):
            n = w.shape[0]
            bm = np.zeros(n, np.int32) if bias_mant is None else np.asarray(bias_mant[i - 1], np.int32)
            nodes += [ir.Dense(name=f"fc{i}", weight=w, weight_exp=weight_exp),
                      ir.LoihiLIF(name=f"lif{i}", shape=(n,), vth=vth, bias_mant=bm,
                                  bias_exp=np.full(n, bias_exp, np.int32), du=du, dv=dv)]
        nodes.append(ir.Output(name="out", shape=(weights[-1].shape[0],), readout=ir.ReadoutMode.SPIKE_COUNT))
        return ir.check_graph(ir.Graph.chain(nodes, records=(ir.Timesteps(steps=timesteps),)))

    return build


@pytest.fixture
def tiny_hw(tmp_path):
    """Factory: a copy of hw_configs/loihi2.yaml with some values replaced, written to tmp_path."""
    import yaml

    from toolkit.hw import hw_config_dir, load_hw

    def build(name="tiny", **sections):
        data = yaml.safe_load((hw_config_dir() / "loihi2.yaml").read_text())
        for section, values in sections.items():
            if values is None:
                data.pop(section, None)
            else:
                data[section].update(values)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_hw(path)

    return build


@pytest.fixture(scope="session")
def trained_cnn(digits):
    """A small CNN (plain torch layers) on the digits as 1x8x8 images: conv-pool-conv-pool-dense, a few seconds."""
    from torch import nn

    train, _ = digits
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))
    x = torch.tensor(train.x.reshape(-1, 1, 8, 8), dtype=torch.float32)
    y = torch.tensor(train.y)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(12):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    torch.set_num_threads(before)
    return model.eval(), (1, 8, 8)
