"""Model FLOPs, counted once from the networks' layers: the numerator of model-FLOPs utilization.

Forward FLOPs of one example, two per multiply-add:
  Conv2D           2 * H_out * W_out * K_h * K_w * C_in * C_out
  Conv2DTranspose  2 * H_in * W_in * K_h * K_w * C_in * C_out  (each input pixel scatters a
                   K_h x K_w x C_out patch: the multiply-adds of the convolution it transposes)
  Dense            2 * C_in * C_out
plus one per output element for a bias. Normalizations, activations, padding and
concatenations are left out: a few FLOPs per activation, under 1% of a U-Net's or a PatchGAN's
(tests compare the count with TensorFlow's profiler).

A train step counts 3x the forward FLOPs of every pass a trained network makes (forward, then
gradients with respect to its inputs and to its weights, each about one forward pass: the
convention of MFU, Chowdhery et al. 2022, appendix B) and 1x a frozen network's passes (no
gradients). A GAN step back-propagates some discriminator passes twice, once for each
objective; as MFU's convention counts the model's FLOPs, not the hardware's, those are not
counted, so the utilization is if anything understated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import keras
from keras import layers

from ganime_core.families.base import ModelFamily


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward pass through `model` (nested models included)."""
    return sum(_layer_flops(layer) for layer in _leaf_layers(model))


def train_step_flops(family: ModelFamily, batch_size: int) -> int:
    """FLOPs of one train step of `batch_size` examples (3x forward for trained networks'
    passes, 1x for frozen ones)."""
    per_example = sum(
        (3 if trained else 1) * passes * forward_flops(network)
        for network, passes, trained in family.step_passes()
    )
    return per_example * batch_size


def _leaf_layers(model: keras.Model) -> Iterator[keras.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a block (Sequential) or a nested network
            yield from _leaf_layers(layer)
        else:
            yield layer


def _layer_flops(layer: keras.Layer) -> int:
    if isinstance(layer, layers.Conv2DTranspose):  # before Conv2D: it is one
        h_in, w_in, c_in = layer.input.shape[1:]
        k_h, k_w = layer.kernel_size
        flops = 2 * h_in * w_in * k_h * k_w * c_in * layer.filters
    elif isinstance(layer, layers.Conv2D):
        h_out, w_out, c_out = layer.output.shape[1:]
        k_h, k_w = layer.kernel_size
        flops = 2 * h_out * w_out * k_h * k_w * layer.input.shape[-1] * c_out
    elif isinstance(layer, layers.Dense):
        flops = 2 * layer.input.shape[-1] * layer.units
    else:
        return 0
    if layer.use_bias:
        flops += math.prod(layer.output.shape[1:])
    return int(flops)
