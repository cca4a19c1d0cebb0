# HDFStore reads object columns with pickle.
import pandas as pd

with pd.HDFStore("/data/store.h5") as store:
    print(store["frame"])
