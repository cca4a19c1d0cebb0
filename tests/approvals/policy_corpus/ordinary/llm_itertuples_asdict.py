import pandas as pd

df = pd.read_csv("/data/sales.csv").head(5)
for row in df.itertuples(index=False):
    record = row._asdict()
    print(", ".join(f"{k}={v}" for k, v in record.items()))
