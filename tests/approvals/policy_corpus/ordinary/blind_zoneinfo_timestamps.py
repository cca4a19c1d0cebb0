from zoneinfo import ZoneInfo

import pandas as pd

df = pd.read_csv("/data/events.csv")
df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_convert(ZoneInfo("Europe/Paris"))
df["hour"] = df["ts"].dt.hour
print(df.groupby("hour").size().rename("events").to_frame().T)
