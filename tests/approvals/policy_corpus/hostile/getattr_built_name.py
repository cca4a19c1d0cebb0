# The attribute name is built from pieces, so no literal says what it is.
import numpy as np

name = "ctypes" + "lib"
getattr(np, name).load_library("libc", "/lib")
