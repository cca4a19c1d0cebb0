import pandas as pd
import matplotlib.pyplot as plt

wide = pd.read_csv("/data/kpis.csv")
long = wide.melt(id_vars=["month"], var_name="kpi", value_name="value")
long["month"] = pd.to_datetime(long["month"])
pivot = long.pivot_table(index="month", columns="kpi", values="value")
growth = pivot.pct_change().mul(100).round(1)

print("Month-over-month growth (%):")
print(growth.tail(6))
pivot.plot(subplots=True, layout=(-1, 2), figsize=(12, 8), sharex=True, title="KPIs over time")
plt.tight_layout()
