import json
from datetime import datetime

import pandas as pd

df = pd.read_csv("/data/sales.csv")
report = {
    "generated": datetime.now().isoformat(timespec="seconds"),
    "rows": int(len(df)),
    "total_revenue": round(float(df["revenue"].sum()), 2),
    "by_region": df.groupby("region")["revenue"].sum().round(2).to_dict(),
}

with open("/output/report.json", "w", encoding="utf-8") as handle:
    json.dump(report, handle, indent=2)

print(json.dumps(report, indent=2))
