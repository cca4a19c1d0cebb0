import pandas as pd
import matplotlib.pyplot as plt

# Load the sales data
df = pd.read_csv("/data/sales.csv")

# Parse dates and derive the month
df["date"] = pd.to_datetime(df["date"])
df["month"] = df["date"].dt.to_period("M").dt.to_timestamp()

# Aggregate revenue per month and region
monthly = (
    df.groupby(["month", "region"], as_index=False)["revenue"]
    .sum()
    .pivot(index="month", columns="region", values="revenue")
    .fillna(0)
)

fig, ax = plt.subplots(figsize=(12, 6))
monthly.plot(ax=ax, marker="o")
ax.set_title("Monthly Revenue by Region")
ax.set_xlabel("Month")
ax.set_ylabel("Revenue ($)")
ax.legend(title="Region", bbox_to_anchor=(1.02, 1), loc="upper left")
plt.tight_layout()

print("Monthly revenue by region (last 6 months):")
print(monthly.tail(6).round(2).to_string())
print(f"\nTotal revenue: ${df['revenue'].sum():,.2f}")
