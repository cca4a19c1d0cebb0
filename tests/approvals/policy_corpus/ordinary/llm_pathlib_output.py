from pathlib import Path

import pandas as pd

OUTPUT = Path("/output")
OUTPUT.mkdir(parents=True, exist_ok=True)

df = pd.read_csv("/data/sales.csv")
summary = df.describe(include="all").T

summary.to_csv(OUTPUT / "summary.csv")
(OUTPUT / "notes.txt").write_text(f"{len(df)} rows, {df.shape[1]} columns\n")
print(f"Wrote {OUTPUT / 'summary.csv'}")
