import numpy as np
import pandas as pd

df = pd.read_csv("/data/sales.csv")
stats = df.groupby("region")["revenue"].agg(["count", "mean", "std", "min", "max"])
stats["cv"] = stats["std"] / stats["mean"]
stats["sem"] = stats["std"] / np.sqrt(stats["count"])

formatted = stats.style.format({"mean": "{:,.2f}", "std": "{:,.2f}", "cv": "{:.1%}"})
print(stats.round(3).to_string())
print("Region with the most variable revenue: {}".format(stats["cv"].idxmax()))
formatted
