import pandas as pd
import matplotlib.pyplot as plt
import matplotlib.dates as mdates

df = pd.read_csv("/data/sales.csv", parse_dates=["date"])
daily = df.set_index("date").resample("D")["revenue"].sum()
rolling = daily.rolling(window=7, min_periods=1).mean()

fig, ax = plt.subplots(figsize=(12, 5))
ax.plot(daily.index, daily.values, alpha=0.3, label="Daily")
ax.plot(rolling.index, rolling.values, linewidth=2, label="7-day average")
ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
ax.xaxis.set_major_locator(mdates.MonthLocator())
ax.set_title("Daily revenue with a 7-day rolling average")
ax.legend()
fig.autofmt_xdate()

print(rolling.describe())
