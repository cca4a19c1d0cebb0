# Generated offline (no LLM): distribution
# Question: distribution of payment type
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_parquet("/data/trips.parquet")
df["pickup_time"] = pd.to_datetime(df["pickup_time"], errors="coerce")

counts = df["payment_type"].value_counts(dropna=False)
shares = counts / counts.sum()
shown = counts.head(20)
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(shown.index.astype(str), shown.values)
ax.set_title("Distribution of payment_type")
ax.set_xlabel("payment_type")
ax.set_ylabel("Rows")
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()

result = pd.DataFrame({"rows": counts, "share": shares.round(3)})
label = "Distribution of payment_type"
print(f"{label} ({len(counts)} values):")
print(result.to_string())
print(f"Most common: {counts.index[0]} ({shares.iloc[0]:.1%} of rows).")
result
