# A bound writer method renamed, then called with a path outside /output.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
save = df.to_csv
save("/home/analyst/.bashrc")
