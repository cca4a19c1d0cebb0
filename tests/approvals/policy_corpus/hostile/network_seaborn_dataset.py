# seaborn downloads its example data sets from the Internet.
import seaborn as sns

tips = sns.load_dataset("tips")
print(tips.head())
