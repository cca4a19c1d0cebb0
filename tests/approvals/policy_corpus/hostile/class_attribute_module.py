# A module stored on an instance, used later through the attribute.
import numpy as np


class Holder:
    def __init__(self):
        self.lib = np


Holder().lib.ctypeslib.load_library("libc", "/lib")
