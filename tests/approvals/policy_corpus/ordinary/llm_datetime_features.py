import calendar
from datetime import timedelta

import pandas as pd

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")
df = df.dropna(subset=["date"])
df["weekday"] = df["date"].dt.dayofweek.map(lambda d: calendar.day_name[d])
df["is_weekend"] = df["date"].dt.dayofweek >= 5

by_day = df.groupby("weekday")["revenue"].mean().reindex(list(calendar.day_name))
print("Average revenue by weekday:")
print(by_day.round(2))

last = df["date"].max()
recent = df[df["date"] > last - timedelta(days=30)]
print(f"Revenue in the last 30 days: {recent['revenue'].sum():,.2f}")
