import random
from decimal import Decimal, ROUND_HALF_UP
from functools import reduce
from operator import itemgetter

import pandas as pd

random.seed(7)
df = pd.read_csv("/data/sales.csv")
picked = random.sample(list(df.index), k=5)
rows = df.loc[picked].to_dict("records")
rows.sort(key=itemgetter("revenue"), reverse=True)
total = reduce(lambda acc, r: acc + Decimal(str(r["revenue"])), rows, Decimal("0"))
print("Sampled total:", total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
for r in rows:
    print(r["region"], r["product"], r["revenue"])
