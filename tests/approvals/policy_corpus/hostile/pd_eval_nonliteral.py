# pd.eval with a string built at run time.
import pandas as pd

parts = ["__import__", "('os')"]
pd.eval("".join(parts))
