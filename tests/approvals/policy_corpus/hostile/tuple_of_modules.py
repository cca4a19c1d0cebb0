# Modules put in a tuple and taken out by index.
import numpy as np
import pandas as pd

libs = (np, pd)
libs[0].ctypeslib.load_library("libc", "/lib")
