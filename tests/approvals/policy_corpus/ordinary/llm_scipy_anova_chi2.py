import pandas as pd
from scipy import stats

df = pd.read_csv("/data/sales.csv")

groups = [g["revenue"].dropna().values for _, g in df.groupby("region")]
f_stat, p_anova = stats.f_oneway(*groups)
print(f"One-way ANOVA across regions: F = {f_stat:.2f}, p = {p_anova:.4f}")

contingency = pd.crosstab(df["region"], df["product"])
chi2, p_chi, dof, _ = stats.chi2_contingency(contingency)
print(f"Chi-square test region x product: chi2 = {chi2:.1f}, dof = {dof}, p = {p_chi:.4f}")
