"""What an experiment builds: each network's size and shapes at the configured image size."""

from __future__ import annotations

from typing import Any

from ganime_core.config import ExperimentConfig
from ganime_core.families import build_family


def describe(config: ExperimentConfig) -> dict[str, Any]:
    """Parameter counts and input/output shapes of every network, as JSON-ready data, and the
    shapes of the blocks a paper's figure draws where a family follows one."""
    family = build_family(config, pretrained=False)  # shapes only: no weights fetched
    networks = {}
    for name, net in family.networks().items():
        trainable = sum(int(v.numpy().size) for v in net.trainable_variables)
        total = net.count_params()
        networks[name] = {
            "parameters": total,
            "trainable_parameters": trainable,
            "float32_megabytes": round(total * 4 / 2**20, 2),
            "input_shapes": [list(t.shape) for t in net.inputs],
            "output_shapes": [list(t.shape) for t in net.outputs],
        }
    described = {
        "experiment": config.name,
        "family": config.model.family,
        "image_size": config.data.image_size,
        "networks": networks,
        "total_parameters": sum(n["parameters"] for n in networks.values()),
    }
    if figure := family.figure_shapes():
        described["figure_shapes"] = figure
    return described
