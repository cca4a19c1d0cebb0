# Issue #21: pathlib's own `os` attribute is the os module.
import pathlib

pathlib.os.system("id")
