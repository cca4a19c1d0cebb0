# Generated offline (no LLM): distribution
# Question: distribution of salary by department
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_excel("/data/employees.xlsx", engine="openpyxl")
df["hired"] = pd.to_datetime(df["hired"], errors="coerce")

data = df.dropna(subset=["salary"])
# Overlay the 6 most frequent groups; more would be unreadable.
largest = data["department"].value_counts().nlargest(6).index
fig, ax = plt.subplots(figsize=(9, 5))
for name in largest:
    ax.hist(data.loc[data["department"] == name, "salary"], bins=30, alpha=0.5, label=str(name))
ax.set_title("Distribution of salary by department")
ax.set_xlabel("salary")
ax.set_ylabel("Rows")
ax.legend(title="department")

stats = data.groupby("department")["salary"].describe()
label = "Distribution of salary by department"
print(f"{label}:")
print(stats.round(2).to_string())
medians = stats["50%"].sort_values(ascending=False)
print(f"Highest median: {medians.index[0]} ({medians.iloc[0]:,.2f}).")
print(f"Lowest median: {medians.index[-1]} ({medians.iloc[-1]:,.2f}).")
stats
