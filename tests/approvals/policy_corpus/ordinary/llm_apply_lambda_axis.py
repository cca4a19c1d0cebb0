import pandas as pd

df = pd.read_csv("/data/sales.csv")
df["price"] = df.apply(lambda row: row["revenue"] / row["units"] if row["units"] else None, axis=1)
df["product_clean"] = df["product"].str.strip().str.title()
df["is_big"] = df["revenue"].apply(lambda v: v > 1000)

print(df[["product_clean", "units", "revenue", "price", "is_big"]].head(10))
print(df.groupby("product_clean")["price"].agg(["mean", "median", "std"]).round(2))
