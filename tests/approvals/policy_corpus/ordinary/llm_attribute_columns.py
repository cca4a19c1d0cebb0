import pandas as pd

# Columns read as attributes, as LLMs often write them; some share a name with a standard module.
df = pd.read_csv("/data/sites.csv")
print(df.site.value_counts().head())
print(df.groupby(df.platform).signal.mean().round(2))
df["code_length"] = df.code.astype(str).str.len()
print(df[["site", "code", "code_length"]].head())
print(df.types.nunique(), "distinct types")
