# Generated offline (no LLM): top-n
# Question: most common events
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_json("/data/events.jsonl", lines=True)
df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")

ranking = (
    df.groupby("event", dropna=False).size()
    .nlargest(10)
    .reset_index(name="rows")
)
label = "Top 10 by number of rows (grouped by event)"
print(f"{label}:")
print(ranking.to_string(index=False))
first_name, first_value = ranking.iloc[0]["event"], ranking.iloc[0]["rows"]
print(f"#1: {first_name} ({first_value:,}).")
ranking
