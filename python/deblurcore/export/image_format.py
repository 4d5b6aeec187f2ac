"""The image <-> network conversion at the edges of an exported graph, from the weights'
metadata (the one source of truth, as for the runtime: cpp/models/image_convert.cpp).

Every graph takes and returns (1, 3, H, W) float32 RGB in [0, 1]; the network may want BGR
(``channel_order``) and [-1, 1] (``input_range``), and its output is clamped to its range and
mapped back to [0, 1] as the runtime does for a float image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ExportError
from .graph import GraphBuilder


@dataclass(frozen=True)
class ImageFormat:
    bgr: bool
    symmetric: bool  # the network's values are in [-1, 1] instead of [0, 1]
    size_multiple: int

    @staticmethod
    def from_metadata(
        meta: Mapping[str, str], architecture: str, size_multiple: int
    ) -> ImageFormat:
        order = meta.get("channel_order", "RGB")
        if order not in ("RGB", "BGR"):
            raise ExportError(
                f"{architecture}: metadata channel_order is {order!r}, expected 'RGB' or 'BGR'"
            )
        in_range = meta.get("input_range", "0,1")
        if in_range not in ("0,1", "-1,1"):
            raise ExportError(
                f"{architecture}: metadata input_range is {in_range!r}, expected '0,1' or '-1,1'"
            )
        out_range = meta.get("output_range", in_range)
        if out_range != in_range:
            raise ExportError(
                f"{architecture}: metadata output_range {out_range!r} differs from input_range {in_range!r}"
            )
        multiple = meta.get("size_multiple", str(size_multiple))
        if multiple != str(size_multiple):
            raise ExportError(
                f"{architecture}: metadata size_multiple is {multiple!r}, but the network needs {size_multiple}"
            )
        return ImageFormat(order == "BGR", in_range == "-1,1", size_multiple)

    def to_network(self, g: GraphBuilder, image: str) -> str:
        x = g.flip_channels(image) if self.bgr else image
        if self.symmetric:  # v * 2 - 1, as the runtime scales a float image
            x = g.sub(g.mul(x, g.const(2.0, "two")), g.const(1.0, "one"))
        return x

    def to_image(self, g: GraphBuilder, y: str) -> str:
        """Clamped to the network's range, back to [0, 1] and RGB."""
        if self.symmetric:
            y = g.mul(g.add(g.clip(y, -1.0, 1.0), g.const(1.0, "one")), g.const(0.5, "half"))
        y = g.clip(y, 0.0, 1.0)
        return g.flip_channels(y) if self.bgr else y
