# functools.partial as a decorator factory around getattr.
import functools

import numpy as np

pick = functools.partial(getattr, np)
pick("ctypeslib").load_library("libc", "/lib")
