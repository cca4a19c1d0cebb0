# pandas.errors imports ctypes.
import pandas as pd

pd.errors.ctypes.CDLL(None)
