import pandas as pd

df = pd.read_csv("/data/sales.csv")

summary = (
    df.groupby("product")
    .agg(
        total_revenue=("revenue", "sum"),
        avg_units=("units", "mean"),
        orders=("revenue", "count"),
    )
    .sort_values("total_revenue", ascending=False)
    .reset_index()
)
summary["share"] = summary["total_revenue"] / summary["total_revenue"].sum()

print("Revenue summary by product:")
print(summary.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
top = summary.iloc[0]
print(f"\nThe top product is {top['product']} with ${top['total_revenue']:,.0f} ({top['share']:.1%} of revenue).")
summary
