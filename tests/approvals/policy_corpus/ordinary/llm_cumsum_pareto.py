import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
by_product = df.groupby("product")["revenue"].sum().sort_values(ascending=False)
cumulative = by_product.cumsum() / by_product.sum() * 100

fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(by_product.index.astype(str), by_product.values, color="C0")
ax2 = ax.twinx()
ax2.plot(cumulative.index.astype(str), cumulative.values, color="C1", marker="D")
ax2.axhline(80, color="grey", linestyle="--")
ax2.set_ylim(0, 105)
ax.set_title("Pareto chart of revenue by product")
ax.tick_params(axis="x", rotation=60)

n80 = int((cumulative <= 80).sum()) + 1
print(f"{n80} of {len(by_product)} products make 80% of revenue.")
