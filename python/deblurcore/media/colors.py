"""Colour tags of video frames, and the swscale matrices that match them."""

from __future__ import annotations

from ._common import av

#: The colour attributes of a PyAV VideoFrame / codec context that a sink copies over.
COLOR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")
#: FFmpeg's "unspecified" code of each tag (a source without tags).
UNSPECIFIED = {"colorspace": 2, "color_range": 0, "color_primaries": 2, "color_trc": 2}


def sws_colorspace(avcol_spc: int):
    """The swscale matrix for an FFmpeg AVColorSpace code (the two use different numbers)."""
    cs = av.video.reformatter.Colorspace
    table = {
        1: cs.ITU709,
        4: cs.FCC,
        5: cs.ITU601,
        6: cs.ITU601,
        7: cs.SMPTE240M,
        9: cs.BT2020,
        10: cs.BT2020,
    }
    return table.get(avcol_spc, cs.ITU601)
