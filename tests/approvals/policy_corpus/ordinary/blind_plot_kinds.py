import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv", parse_dates=["date"])
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
df["region"].value_counts().plot(kind="pie", ax=axes[0], autopct="%1.0f%%")
df.plot(kind="scatter", x="units", y="revenue", ax=axes[1], alpha=0.3)
df.set_index("date")["revenue"].resample("W").sum().plot(ax=axes[2])
axes[0].set_ylabel("")
for ax, title in zip(axes, ["Orders by region", "Units vs revenue", "Weekly revenue"]):
    ax.set_title(title)
plt.tight_layout()
plt.show()
