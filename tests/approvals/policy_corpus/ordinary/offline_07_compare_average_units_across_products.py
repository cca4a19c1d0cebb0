# Generated offline (no LLM): comparison
# Question: compare average units across products
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

values = df.groupby("product", dropna=False)["units"].mean().sort_values(ascending=False)
shown = values.head(20)  # the largest groups; more bars would be unreadable
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(shown.index.astype(str), shown.values)
ax.set_title("Average units by product")
ax.set_xlabel("product")
ax.set_ylabel("Average units")
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()

label = "Average units by product"
print(f"{label} ({len(values)} groups):")
print(values.to_string())
print(f"Highest: {values.index[0]} ({values.iloc[0]:,.2f}).")
print(f"Lowest: {values.index[-1]} ({values.iloc[-1]:,.2f}).")
if len(values) > 1 and values.iloc[-1]:
    print(f"The highest is {values.iloc[0] / values.iloc[-1]:.1f}x the lowest.")
values.reset_index()
