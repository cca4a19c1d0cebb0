import pandas as pd

df = pd.read_csv("/data/sales.csv")
df["revenue_band"] = pd.qcut(df["revenue"], q=4, labels=["Q1", "Q2", "Q3", "Q4"])

table = pd.crosstab(df["region"], df["revenue_band"], normalize="index").mul(100).round(1)
print("Share of orders per revenue quartile, by region (%):")
print(table)
