# operator.methodcaller calls a writer by name, with a path the check never sees as one.
import operator

import pandas as pd

df = pd.read_csv("/data/sales.csv")
operator.methodcaller("to_csv", "/etc/cron.d/job")(df)
