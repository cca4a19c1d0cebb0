# Issue #21: numpy's ctypeslib loads shared libraries.
import numpy as np

np.ctypeslib.load_library("libc", "/lib/x86_64-linux-gnu")
