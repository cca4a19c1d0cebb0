# Generated offline (no LLM): group-by
# Question: average salary by department
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_excel("/data/employees.xlsx", engine="openpyxl")
df["hired"] = pd.to_datetime(df["hired"], errors="coerce")

result = (
    df.groupby("department", dropna=False)["salary"].mean()
    .sort_values(ascending=False)
    .reset_index()
)
label = "Average salary by department"
print(f"{label}:")
print(result.to_string(index=False))
best_name, best_value = result.iloc[0]["department"], result.iloc[0]["salary"]
print(f"Highest: {best_name} ({best_value:,.2f}).")
result
