# A star import of pandas brings pandas.io under the name io.
from pandas import *

io.common.get_handle("/etc/passwd", "r")
