"""``python -m deblurcore``: the same command line as the ``deblurcore`` script.

``python -m deblurcore --cmakedir`` prints the folder of the C++ library's CMake package
(see :func:`deblurcore.get_cmake_dir`), as ``python -m pybind11 --cmakedir`` does.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["--cmakedir"]:
        from . import get_cmake_dir

        print(get_cmake_dir())
        sys.exit(0)
    from .cli import main

    sys.exit(main())
