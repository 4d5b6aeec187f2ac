"""The exporter's error: bad arguments or weights it cannot export, told in one line."""


class ExportError(ValueError):
    pass
