import pandas as pd

sales = pd.read_csv("/data/sales.csv")
targets = pd.read_excel("/data/targets.xlsx", sheet_name="2024")

actual = sales.groupby("region", as_index=False)["revenue"].sum()
merged = actual.merge(targets, on="region", how="left", validate="one_to_one")
merged["attainment"] = merged["revenue"] / merged["target"]
merged = merged.sort_values("attainment", ascending=False)

print(merged.assign(attainment=lambda d: d["attainment"].map("{:.0%}".format)).to_string(index=False))
below = merged.loc[merged["attainment"] < 1, "region"].tolist()
print(f"Regions below target: {', '.join(below) if below else 'none'}")
