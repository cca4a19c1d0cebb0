import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
for region, group in df.groupby("region"):
    fig, ax = plt.subplots(figsize=(7, 4))
    group.groupby("product")["revenue"].sum().sort_values().plot.barh(ax=ax)
    ax.set_title(f"Revenue by product - {region}")
    fig.tight_layout()
    fig.savefig(f"/output/revenue_{region.lower()}.png")
    plt.close(fig)
print("Charts written to /output")
