# Generated offline (no LLM): describe
# Question: describe the data
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")

print(f"{len(df):,} rows x {df.shape[1]} columns in " + "sales.csv")
print()
print("Column types:")
print(df.dtypes.to_string())

missing = df.isna().sum()
missing = missing[missing > 0]
print()
print("Missing values per column:" if len(missing) else "Missing values: none")
if len(missing):
    print(missing.to_string())

summary = df.select_dtypes("number").describe().T
if len(summary):
    print()
    print("Numeric columns:")
    print(summary.round(2).to_string())

# Text-like columns: how many distinct values, and the most common one.
others = df.select_dtypes(exclude=["number", "datetime"])
overview = []
for column in others.columns:
    counts = others[column].value_counts()
    top = counts.index[0] if len(counts) else None
    overview.append({"column": column, "distinct values": len(counts), "most common": top})
if overview:
    print()
    print("Other columns:")
    print(pd.DataFrame(overview).to_string(index=False))

dates = df["date"].dropna()
if len(dates):
    print()
    print(f"Dates run from {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}.")
summary
