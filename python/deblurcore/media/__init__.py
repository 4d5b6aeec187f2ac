"""Reading and writing videos, image folders and single images for the command line.

Frames are handed around as ``H×W×3`` RGB numpy arrays: ``uint8`` for 8-bit sources,
``uint16`` for 16-bit still images (PNG, TIFF), so a 16-bit PNG can go through a 16-bit
model and come back out as a 16-bit PNG. Still images go through Pillow (and PyAV for more
than 8 bits per channel, see :mod:`.stills`); videos and their audio through PyAV (FFmpeg).

Outputs are never left half-written:

* a video or a single image is written to a hidden temporary file next to the final path
  and moved into place with :func:`os.replace` by :meth:`Sink.commit`;
* a folder is written into a hidden temporary folder next to the final path and renamed
  into place by :meth:`Sink.commit`;
* :meth:`Sink.abort` (an error, Ctrl-C) removes the temporary file or folder.

The parts: :mod:`.paths` (extensions, natural sort), :mod:`.stills` (image codecs),
:mod:`.sources` (inputs), :mod:`.sink`, :mod:`.image_sinks` and :mod:`.video_sink`
(outputs; the video encoding rules are described there), :mod:`.outputs` (choosing the
writer for an OUTPUT path), :mod:`.atomic` (temporary files and renames).
"""

from ._common import MediaError, warn
from .image_sinks import FolderSink, ImageSink
from .metadata import ImageMeta
from .outputs import open_sink, output_kind
from .paths import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_image_path,
    is_video_path,
    list_images,
    natural_key,
)
from .sink import Sink
from .sources import FolderSource, Frame, ImageSource, Source, VideoSource, open_source
from .stills import encode_image, read_image, read_image_meta, write_image
from .video_sink import VideoSink

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FolderSink",
    "FolderSource",
    "Frame",
    "ImageMeta",
    "ImageSink",
    "ImageSource",
    "MediaError",
    "Sink",
    "Source",
    "VideoSink",
    "VideoSource",
    "encode_image",
    "is_image_path",
    "is_video_path",
    "list_images",
    "natural_key",
    "open_sink",
    "open_source",
    "output_kind",
    "read_image",
    "read_image_meta",
    "warn",
    "write_image",
]
