"""Import ``deblurcore.convert`` for the scripts in this folder.

The installed package is used when there is one; otherwise the sources of this checkout. The
converter is pure Python, so in the second case the package's ``__init__`` (which loads the
compiled core) is bypassed and the scripts run on a machine where nothing is built.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path


def import_convert():
    try:
        import deblurcore.convert as convert

        return convert
    except ImportError:
        src = Path(__file__).resolve().parent.parent / "python" / "deblurcore"
        if not (src / "convert" / "__init__.py").is_file():
            raise
        pkg = types.ModuleType("deblurcore")
        pkg.__path__ = [str(src)]
        sys.modules["deblurcore"] = pkg
        import deblurcore.convert as convert

        return convert
