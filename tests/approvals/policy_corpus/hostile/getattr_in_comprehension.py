# Every name of pandas tried in a comprehension.
import pandas as pd

readers = [getattr(pd, n) for n in dir(pd) if "pickle" in n]
readers[0]("/data/model.pkl")
