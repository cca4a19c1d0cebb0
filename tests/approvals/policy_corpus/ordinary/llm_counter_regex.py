import re
from collections import Counter

import pandas as pd

df = pd.read_csv("/data/feedback.csv")
words = Counter()
for text in df["comment"].dropna():
    words.update(w for w in re.findall(r"[a-z']+", text.lower()) if len(w) > 3)

print("Most common words in the feedback:")
for word, count in words.most_common(15):
    print(f"{word:>15}: {count}")
