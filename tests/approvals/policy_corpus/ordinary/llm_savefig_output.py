import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
by_region = df.groupby("region")["revenue"].sum().sort_values(ascending=False)

fig, ax = plt.subplots(figsize=(8, 5))
bars = ax.bar(by_region.index, by_region.values, color="#4C72B0")
ax.bar_label(bars, fmt="%.0f")
ax.set_ylabel("Revenue")
ax.set_title("Total revenue by region")
fig.savefig("/output/revenue_by_region.png", dpi=150, bbox_inches="tight")

by_region.to_frame("revenue").to_csv("/output/revenue_by_region.csv")
print(by_region)
