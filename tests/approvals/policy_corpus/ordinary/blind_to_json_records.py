import pandas as pd

df = pd.read_csv("/data/sales.csv")
top = df.nlargest(20, "revenue")[["date", "region", "product", "revenue"]]
top.to_json("/output/top_orders.json", orient="records", indent=2)
top.to_parquet("/output/top_orders.parquet", index=False)
print(top.to_markdown(index=False))
