from itertools import combinations

import pandas as pd

df = pd.read_csv("/data/orders.csv")
baskets = df.groupby("order_id")["product"].apply(lambda s: sorted(set(s)))

pairs = {}
for items in baskets:
    for a, b in combinations(items, 2):
        pairs[(a, b)] = pairs.get((a, b), 0) + 1

top_pairs = sorted(pairs.items(), key=lambda kv: kv[1], reverse=True)[:10]
result = pd.DataFrame([(a, b, n) for (a, b), n in top_pairs], columns=["product_a", "product_b", "orders"])
print(result.to_string(index=False))
