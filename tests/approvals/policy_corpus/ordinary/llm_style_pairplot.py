import pandas as pd
import seaborn as sns
import matplotlib.pyplot as plt

plt.style.use("seaborn-v0_8-whitegrid")
df = pd.read_csv("/data/iris.csv")

g = sns.pairplot(df, hue="species", corner=True, diag_kind="kde")
g.figure.suptitle("Pairwise relationships by species", y=1.02)

print(df.groupby("species").mean(numeric_only=True).round(2))
