import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
regions = sorted(df["region"].dropna().unique())

fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharey=True)
for ax, region in zip(axes.flat, regions):
    subset = df[df["region"] == region]
    subset.groupby("product")["revenue"].sum().sort_values().plot.barh(ax=ax, color="teal")
    ax.set_title(region)
    ax.set_xlabel("Revenue")
fig.suptitle("Revenue by product in each region")
fig.tight_layout()
