import pandas as pd
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker

df = pd.read_csv("/data/sales.csv")
top = df.groupby("product")["revenue"].sum().nlargest(10).sort_values()

fig, ax = plt.subplots(figsize=(9, 6))
ax.barh(top.index, top.values, color="darkorange")
ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda x, _: f"${x / 1000:,.0f}k"))
ax.set_title("Top 10 products by revenue")
for i, v in enumerate(top.values):
    ax.text(v, i, f" ${v:,.0f}", va="center")
plt.tight_layout()
