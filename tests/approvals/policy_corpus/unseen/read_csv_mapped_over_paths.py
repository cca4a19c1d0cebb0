# pd.read_csv handed to map, the paths built from the data itself.
import pandas as pd

index = pd.read_csv("/data/index.csv")
frames = list(map(pd.read_csv, index["path"]))
