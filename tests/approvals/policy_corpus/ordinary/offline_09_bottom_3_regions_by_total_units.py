# Generated offline (no LLM): top-n
# Question: bottom 3 regions by total units as a bar chart
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

ranking = (
    df.groupby("region", dropna=False)["units"].sum()
    .nsmallest(3)
    .reset_index()
)
label = "Bottom 3 by total units (grouped by region)"
print(f"{label}:")
print(ranking.to_string(index=False))
first_name, first_value = ranking.iloc[0]["region"], ranking.iloc[0]["units"]
print(f"#1: {first_name} ({first_value:,}).")

chart_data = ranking
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(chart_data["region"].astype(str), chart_data["units"])
ax.set_title(label)
ax.set_xlabel("region")
ax.set_ylabel("Total units")
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
ranking
