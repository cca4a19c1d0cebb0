# Generated offline (no LLM): count
# Question: how many orders per region
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

result = df["region"].value_counts(dropna=False).rename_axis("region").reset_index(name="rows")
label = "Rows per region"
print(f"{label} ({len(result)} groups, {len(df):,} rows in total):")
print(result.to_string(index=False))
top_name, top_rows = result.iloc[0]["region"], result.iloc[0]["rows"]
print(f"Most rows: {top_name} ({top_rows:,}).")
result
