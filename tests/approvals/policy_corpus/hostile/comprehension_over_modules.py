# Modules iterated over in a comprehension.
import os.path
import pathlib

[m.system("id") for m in (pathlib.os, os)]
