# Generated offline (no LLM): trend
# Question: weekly revenue trend
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

series = df.dropna(subset=["date"]).set_index("date").resample("W")["revenue"].sum()
assert len(series), "No parseable dates in column " + "date" + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
ax.plot(series.index, series.values, marker="o")
ax.set_title("Total revenue per week")
ax.set_xlabel("Week")
ax.set_ylabel("Total revenue")
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = "Total revenue per week"
print(f"{label} ({len(series)} weeks; the last {min(len(series), 36)} shown):")
print(series.tail(36).to_string())
first, last = series.iloc[0], series.iloc[-1]
print(f"First week: {first:,.2f}; last week: {last:,.2f}.")
print(f"Peak: {series.max():,.2f} in {series.idxmax():%Y-%m-%d}.")
if first:
    print(f"Change from the first to the last week: {(last - first) / first:+.1%}.")
series
