# Generated offline (no LLM): distribution
# Question: distribution of revenue
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

values = df["revenue"].dropna()
fig, ax = plt.subplots(figsize=(8, 5))
ax.hist(values, bins=30, edgecolor="white")
ax.set_title("Distribution of revenue")
ax.set_xlabel("revenue")
ax.set_ylabel("Rows")

stats = values.describe()
label = "Distribution of revenue"
print(f"{label} ({len(values):,} values):")
print(stats.to_string())
q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
print(f"Median {median:,.2f}; half of the values lie between {q1:,.2f} and {q3:,.2f}.")
print(f"Skewness {values.skew():.2f} (0 = symmetric, above 0 = a long tail of high values).")
stats
