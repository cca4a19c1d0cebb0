import os

import pandas as pd

os.makedirs("/output", exist_ok=True)
df = pd.read_csv("/data/sales.csv")
summary = df.groupby("region")["revenue"].sum()
out_path = os.path.join("/output", "summary.csv")
summary.to_csv(out_path)
print(f"Saved {out_path}")
