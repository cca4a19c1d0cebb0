# Generated offline (no LLM): trend
# Question: how many people were hired each year
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_excel("/data/employees.xlsx", engine="openpyxl")
df["hired"] = pd.to_datetime(df["hired"], errors="coerce")

series = df.dropna(subset=["hired"]).set_index("hired").resample("YS").size()
assert len(series), "No parseable dates in column " + "hired" + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
ax.plot(series.index, series.values, marker="o")
ax.set_title("Number of rows per year")
ax.set_xlabel("Year")
ax.set_ylabel("Number of rows")
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = "Number of rows per year"
print(f"{label} ({len(series)} years; the last {min(len(series), 36)} shown):")
print(series.tail(36).to_string())
first, last = series.iloc[0], series.iloc[-1]
print(f"First year: {first:,}; last year: {last:,}.")
print(f"Peak: {series.max():,} in {series.idxmax():%Y}.")
if first:
    print(f"Change from the first to the last year: {(last - first) / first:+.1%}.")
series
