"""The emulated APIs: one sub-package each, registered here by name.

Adding an API means adding its sub-package (an `ApiService` subclass, its routes and rules)
and its contract in `contracts/`, then listing it below.
"""

from __future__ import annotations

from mockserver.apis.camb import Camb
from mockserver.apis.neuralanalog import NeuralAnalog
from mockserver.apis.neuraldraft import NeuralDraft
from mockserver.apis.neurolinker import NeuroLinker
from mockserver.service import ApiService

SERVICES: dict[str, type[ApiService]] = {
    NeuralAnalog.name: NeuralAnalog,
    Camb.name: Camb,
    NeuralDraft.name: NeuralDraft,
    NeuroLinker.name: NeuroLinker,
    # camb, neurolinker and neuraldraft join here, each in its own sub-package
}
