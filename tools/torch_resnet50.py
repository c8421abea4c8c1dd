"""Marrow-Find's ResNet50 classifier written in PyTorch, layer for layer as Keras builds it.

Only for training on a GPU machine that has PyTorch but no TensorFlow; the product never imports
this. Every module is keyed by its Keras layer name, so `inference/engine/torch_import.py` can
copy the weights into the Keras model by name. What makes it Keras's ResNet50 (v1) rather than
torchvision's (v1.5): the stride sits on the first 1x1 convolution of a block, every convolution
has a bias, and BatchNorm's epsilon is 1.001e-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.01  # Keras's momentum 0.99, in PyTorch's convention
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# (stage name, bottleneck filters, blocks, stride of the first block), as keras.applications.ResNet50.
STAGES = (("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2))
HEAD_UNITS = 256
HEAD_DROPOUT = 0.5


class KerasResNet50Classifier(nn.Module):
    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.layer = nn.ModuleDict()
        self._conv_bn("conv1", 3, 64, 7, 2)
        channels = 64
        self.blocks: list[tuple[str, bool, int]] = []
        for stage, filters, count, stride in STAGES:
            for index in range(1, count + 1):
                name = f"{stage}_block{index}"
                first = index == 1
                block_stride = stride if first else 1
                if first:
                    self._conv_bn(f"{name}_0", channels, 4 * filters, 1, block_stride)
                self._conv_bn(f"{name}_1", channels, filters, 1, block_stride)
                self._conv_bn(f"{name}_2", filters, filters, 3, 1)
                self._conv_bn(f"{name}_3", filters, 4 * filters, 1, 1)
                self.blocks.append((name, first, block_stride))
                channels = 4 * filters
        self.layer["features"] = nn.Linear(channels, HEAD_UNITS)
        self.layer["logits"] = nn.Linear(HEAD_UNITS, num_classes)
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        self.mean_bgr: torch.Tensor
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))

    def _conv_bn(self, prefix: str, cin: int, cout: int, kernel: int, stride: int) -> None:
        # Keras pads the 7x7 stem explicitly and uses "same" for 3x3, "valid" for 1x1: (k - 1) // 2.
        self.layer[f"{prefix}_conv"] = nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2)
        self.layer[f"{prefix}_bn"] = nn.BatchNorm2d(cout, eps=BN_EPSILON, momentum=BN_MOMENTUM)

    def _run(self, prefix: str, x: torch.Tensor) -> torch.Tensor:
        return self.layer[f"{prefix}_bn"](self.layer[f"{prefix}_conv"](x))

    def backbone(self, rgb_0_255: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in 0..255 -> the last convolutional block's output."""
        x = rgb_0_255.flip(1) - self.mean_bgr  # keras `caffe` preprocessing
        x = F.relu(self._run("conv1", x))
        # Keras zero-pads before the max pool; after a ReLU that equals PyTorch's -inf padding.
        x = F.max_pool2d(x, 3, 2, padding=1)
        for name, first, _stride in self.blocks:
            shortcut = self._run(f"{name}_0", x) if first else x
            y = F.relu(self._run(f"{name}_1", x))
            y = F.relu(self._run(f"{name}_2", y))
            x = F.relu(self._run(f"{name}_3", y) + shortcut)
        return x

    def head_kernel(self) -> torch.Tensor:
        """The "features" dense kernel, which Keras regularises with L2."""
        features = self.layer["features"]
        assert isinstance(features, nn.Linear)
        return features.weight

    def forward(self, rgb_0_255: torch.Tensor) -> torch.Tensor:
        """Logits (the softmax is left to the loss; Keras's model ends with it)."""
        pooled = self.backbone(rgb_0_255).mean(dim=(2, 3))
        features = F.relu(self.layer["features"](pooled))
        return self.layer["logits"](self.dropout(features))
