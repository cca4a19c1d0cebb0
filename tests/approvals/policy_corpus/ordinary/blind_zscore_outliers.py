import pandas as pd
from scipy.stats import zscore

df = pd.read_csv("/data/sales.csv")
df["z"] = zscore(df["revenue"], nan_policy="omit")
outliers = df[df["z"].abs() > 3]
print(f"{len(outliers)} outliers out of {len(df)} rows ({len(outliers) / len(df):.2%})")
print(outliers.sort_values("z", ascending=False).head(10).to_string(index=False))
