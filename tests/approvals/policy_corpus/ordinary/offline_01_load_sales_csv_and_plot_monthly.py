# Generated offline (no LLM): trend
# Question: Load sales.csv and plot monthly revenue by region
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

data = df.dropna(subset=["date"])
# Keep the 8 largest groups so the chart stays readable.
largest = data.groupby("region")["revenue"].sum().nlargest(8).index
table = (
    data[data["region"].isin(largest)]
    .groupby([pd.Grouper(key="date", freq="MS"), "region"])["revenue"].sum()
    .unstack("region").fillna(0)
)
assert len(table), "No parseable dates in column " + "date" + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
for name in table.columns:
    ax.plot(table.index, table[name], marker="o", label=str(name))
ax.set_title("Total revenue per month by region")
ax.set_xlabel("Month")
ax.set_ylabel("Total revenue")
ax.legend(title="region")
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = "Total revenue per month by region"
print(f"{label} ({len(table)} months, {table.shape[1]} groups; the last {min(len(table), 36)} shown):")
print(table.tail(36).round(2).to_string())
overall = data.groupby("region")["revenue"].sum().sort_values(ascending=False)
print(f"Over the whole period, highest: {overall.index[0]} ({overall.iloc[0]:,.2f}).")
print(f"Over the whole period, lowest: {overall.index[-1]} ({overall.iloc[-1]:,.2f}).")
table
