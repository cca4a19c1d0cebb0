# Unpickling runs code stored in the file.
import pandas as pd

model = pd.read_pickle("/data/model.pkl")
print(model)
