import pandas as pd

required = {"date", "region", "revenue"}
df = pd.read_csv("/data/sales.csv")
missing = required - set(df.columns)
if missing:
    raise ValueError(f"Missing columns: {sorted(missing)}")

try:
    df["revenue"] = pd.to_numeric(df["revenue"], errors="raise")
except (ValueError, TypeError) as exc:
    print(f"Could not parse revenue: {exc}")
    df["revenue"] = pd.to_numeric(df["revenue"], errors="coerce")

print(f"Rows with unparseable revenue: {df['revenue'].isna().sum()}")
print(df.describe())
