# getattr renamed, then used on numpy with a name put together at run time.
import numpy as np

look = getattr
lib = look(np, "ctypes" + "lib")
lib.load_library("libc", "/lib")
