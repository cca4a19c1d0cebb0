import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

sns.set_theme(style="whitegrid")

df = pd.read_csv("/data/sales.csv")

plt.figure(figsize=(10, 6))
sns.boxplot(data=df, x="region", y="revenue", hue="region", palette="Set2", legend=False)
plt.title("Revenue distribution by region")
plt.xticks(rotation=30)
plt.tight_layout()

medians = df.groupby("region")["revenue"].median().sort_values(ascending=False)
print("Median revenue per region:")
for region, value in medians.items():
    print(f"  {region:<12} {value:>10,.2f}")
