# The name is a literal reversed at run time.
import pandas as pd

reader = getattr(pd, "elkcip_daer"[::-1])
reader("/data/model.pkl")
