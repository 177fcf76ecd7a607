"""Benchmarks, one module each, run by ``nfa bench NAME``.

A benchmark module exposes ``add_arguments(parser)`` and ``run(args) -> exit code`` and keeps
heavy imports (torch) inside functions, so ``nfa --help`` stays fast. They are listed in
``toolkit.cli.bench.BENCHMARKS``:

* ``cheon``: BP, FA and FA after noise pretraining side by side (Cheon, Lee & Paik 2024).
* ``speed``: steps per second of every rule against backprop on the same network and batch.
* ``sim``: the reference simulator against Lava's fixed-point simulator on the same network and inputs.
* ``learn``: on-chip learning, the reference simulator against Lava.
* ``eprop``: recurrent spiking networks trained with BPTT, e-prop (symmetric, random) and e-prop after noise
  pretraining.
* ``deploy-rsnn``: trained recurrent networks compiled for the chip: float accuracy against the reference and Lava.
"""
