# operator.attrgetter reaches ctypeslib by a dotted name.
import operator

import numpy as np

loader = operator.attrgetter("ctypeslib.load_library")(np)
loader("libc", "/lib")
