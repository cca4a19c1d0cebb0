import numpy as np
import pandas as pd

df = pd.read_csv("/data/sales.csv")
df["tier"] = np.where(df["revenue"] >= 1000, "gold", np.where(df["revenue"] >= 250, "silver", "bronze"))
conditions = [df["units"] < 5, df["units"].between(5, 20), df["units"] > 20]
df["size"] = np.select(conditions, ["small", "medium", "bulk"], default="unknown")
print(pd.crosstab(df["tier"], df["size"], margins=True))
df.info()
print(df.memory_usage(deep=True).sum() / 1e6, "MB")
