import pandas as pd

df = pd.read_csv("/data/sales.csv")
threshold = 500

big_north = df.query("region == 'North' and revenue > @threshold")
print(f"{len(big_north)} large orders in the North")
print(big_north.sort_values("revenue", ascending=False).head())

df = df.eval("price = revenue / units")
print(df["price"].describe())
