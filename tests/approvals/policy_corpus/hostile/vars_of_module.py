# vars() exposes a module's namespace as a dictionary.
import pandas as pd

vars(pd)["read_pickle"]("/data/model.pkl")
