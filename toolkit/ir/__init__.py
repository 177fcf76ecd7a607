"""The intermediate representation: frozen node dataclasses, a graph, and a file format.

The IR describes a network; it never executes one. Families:
``io`` (Input, Output), ``synapses`` (Dense, Conv2d, AvgPool2d, Flatten),
``neurons`` (ReLU, Identity, LIF, SigmaDelta, LoihiLIF, LoihiSigmaDelta).
"""

from toolkit.ir.check import check_graph, graph_problems, register_check
from toolkit.ir.core import NODE_TYPES, Graph, NeuronGroup, Node, ReadoutMode, ResetMode, Synapse, register_node
from toolkit.ir.fileformat import FORMAT_VERSION, load_graph, save_graph
from toolkit.ir.io import Encoding, Input, Output
from toolkit.ir.neurons import LIF, Activation, Identity, LoihiLIF, LoihiSigmaDelta, ReLU, SigmaDelta
from toolkit.ir.synapses import AvgPool2d, Conv2d, Dense, Flatten

__all__ = [
    "FORMAT_VERSION",
    "LIF",
    "NODE_TYPES",
    "Activation",
    "AvgPool2d",
    "Conv2d",
    "Dense",
    "Encoding",
    "Flatten",
    "Graph",
    "Identity",
    "Input",
    "LoihiLIF",
    "LoihiSigmaDelta",
    "NeuronGroup",
    "Node",
    "Output",
    "ReLU",
    "ReadoutMode",
    "ResetMode",
    "SigmaDelta",
    "Synapse",
    "check_graph",
    "graph_problems",
    "load_graph",
    "register_check",
    "register_node",
    "save_graph",
]
