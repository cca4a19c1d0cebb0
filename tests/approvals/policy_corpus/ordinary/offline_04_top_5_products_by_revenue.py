# Generated offline (no LLM): top-n
# Question: top 5 products by revenue
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

ranking = (
    df.groupby("product", dropna=False)["revenue"].sum()
    .nlargest(5)
    .reset_index()
)
label = "Top 5 by total revenue (grouped by product)"
print(f"{label}:")
print(ranking.to_string(index=False))
first_name, first_value = ranking.iloc[0]["product"], ranking.iloc[0]["revenue"]
print(f"#1: {first_name} ({first_value:,.2f}).")
ranking
