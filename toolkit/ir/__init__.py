"""The intermediate representation: frozen node dataclasses, a graph of ports and edges, typed
records, and a versioned file format.

The IR describes a network; it never executes one. Families:
``io`` (Input, Output), ``synapses`` (Dense, Conv2d; reshapes AvgPool2d, Flatten),
``neurons`` (ReLU, Identity, LIF, ALIF, SigmaDelta, LoihiLIF, LoihiALIF, LoihiSigmaDelta); ``records`` holds the
facts compiler passes leave on a graph. ``core`` defines ports, flows, delays and state lifetimes.
"""

from toolkit.ir.check import CHECKS, check_graph, graph_problems, register_check
from toolkit.ir.core import (
    NODE_TYPES,
    Edge,
    Flow,
    Graph,
    Lifetime,
    NeuronGroup,
    Node,
    Port,
    ReadoutMode,
    ResetMode,
    Synapse,
    register_node,
)
from toolkit.ir.fileformat import FORMAT_VERSION, load_graph, save_graph
from toolkit.ir.io import Encoding, Input, Output
from toolkit.ir.neurons import (
    ALIF,
    LIF,
    Activation,
    Identity,
    LoihiALIF,
    LoihiLearningLIF,
    LoihiLIF,
    LoihiSigmaDelta,
    ReLU,
    SigmaDelta,
)
from toolkit.ir.records import (
    RECORD_TYPES,
    Balance,
    BiasesFolded,
    Converted,
    CoreMapping,
    PassLog,
    Quantization,
    Ranges,
    Readout,
    Record,
    Timesteps,
    register_record,
)
from toolkit.ir.synapses import AvgPool2d, Conv2d, Dense, Flatten

__all__ = [
    "ALIF",
    "CHECKS",
    "FORMAT_VERSION",
    "LIF",
    "NODE_TYPES",
    "RECORD_TYPES",
    "Activation",
    "AvgPool2d",
    "Balance",
    "BiasesFolded",
    "Conv2d",
    "Converted",
    "CoreMapping",
    "Dense",
    "Edge",
    "Encoding",
    "Flatten",
    "Flow",
    "Graph",
    "Identity",
    "Input",
    "Lifetime",
    "LoihiALIF",
    "LoihiLIF",
    "LoihiLearningLIF",
    "LoihiSigmaDelta",
    "NeuronGroup",
    "Node",
    "Output",
    "PassLog",
    "Port",
    "Quantization",
    "Ranges",
    "ReLU",
    "Readout",
    "ReadoutMode",
    "Record",
    "ResetMode",
    "SigmaDelta",
    "Synapse",
    "Timesteps",
    "check_graph",
    "graph_problems",
    "load_graph",
    "register_check",
    "register_node",
    "register_record",
    "save_graph",
]
