# seaborn.mpl is matplotlib, whose os attribute is os.
import seaborn as sns

sns.mpl.os.popen("id").read()
