import textwrap

import pandas as pd

df = pd.read_csv("/data/tickets.csv")
df["subject"] = df["subject"].fillna("").str.strip()
df["category"] = df["subject"].str.extract(r"^\[(\w+)\]", expand=False).fillna("other").str.lower()

counts = df["category"].value_counts()
print("Tickets per category:")
print(counts.to_string())

longest = df.loc[df["subject"].str.len().idxmax(), "subject"]
print("Longest subject:")
print(textwrap.fill(longest, width=70))
