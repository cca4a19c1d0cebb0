# setattr swaps a pandas function for eval, then pandas code calls it.
import pandas as pd

setattr(pd, "read_csv", eval)
pd.read_csv("__import__('os').system('id')")
