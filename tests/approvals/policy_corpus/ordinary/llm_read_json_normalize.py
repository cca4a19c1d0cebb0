import json

import pandas as pd

with open("/data/events.json") as handle:
    payload = json.load(handle)

events = pd.json_normalize(payload["events"], sep="_")
print(events.columns.tolist())
events["timestamp"] = pd.to_datetime(events["timestamp"], unit="s")
per_hour = events.set_index("timestamp").resample("h").size()
print(per_hour.describe())
print(events["type"].value_counts().head(10))
