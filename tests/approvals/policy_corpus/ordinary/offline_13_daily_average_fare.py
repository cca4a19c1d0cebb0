# Generated offline (no LLM): trend
# Question: daily average fare
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_parquet("/data/trips.parquet")
df["pickup_time"] = pd.to_datetime(df["pickup_time"], errors="coerce")

series = df.dropna(subset=["pickup_time"]).set_index("pickup_time").resample("D")["fare"].mean()
assert len(series), "No parseable dates in column " + "pickup_time" + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
ax.plot(series.index, series.values, marker="o")
ax.set_title("Average fare per day")
ax.set_xlabel("Day")
ax.set_ylabel("Average fare")
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = "Average fare per day"
print(f"{label} ({len(series)} days; the last {min(len(series), 36)} shown):")
print(series.tail(36).to_string())
first, last = series.iloc[0], series.iloc[-1]
print(f"First day: {first:,.2f}; last day: {last:,.2f}.")
print(f"Peak: {series.max():,.2f} in {series.idxmax():%Y-%m-%d}.")
if first:
    print(f"Change from the first to the last day: {(last - first) / first:+.1%}.")
series
