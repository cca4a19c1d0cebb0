# A library module passed along a chain of aliases, then into pandas.io and its os.
import pandas as pd

x = pd
y = x
z = y.io
z.common.os.system("id")
