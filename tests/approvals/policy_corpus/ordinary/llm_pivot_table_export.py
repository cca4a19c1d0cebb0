import pandas as pd

df = pd.read_csv("/data/sales.csv")
df["date"] = pd.to_datetime(df["date"], errors="coerce")
df["quarter"] = df["date"].dt.to_period("Q").astype(str)

table = pd.pivot_table(
    df,
    index="region",
    columns="quarter",
    values="revenue",
    aggfunc="sum",
    fill_value=0,
    margins=True,
    margins_name="Total",
)

table.to_csv("/output/revenue_by_region_quarter.csv")
with pd.ExcelWriter("/output/revenue_by_region_quarter.xlsx") as writer:
    table.to_excel(writer, sheet_name="Revenue")

print(table.round(0).to_string())
print("Saved to /output/revenue_by_region_quarter.csv and .xlsx")
