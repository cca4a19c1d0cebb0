import pandas as pd

df = pd.read_csv("/data/orders.csv")
df["tags"] = df["tags"].fillna("").str.split(",")
tags = df.explode("tags")
tags["tags"] = tags["tags"].str.strip().replace("", pd.NA)
tags = tags.dropna(subset=["tags"])
tags["tags"] = pd.Categorical(tags["tags"])

counts = tags["tags"].value_counts()
print(counts.head(10))
sample = df.sample(frac=0.05, random_state=0)
print(sample[["order_id", "tags"]].head())
