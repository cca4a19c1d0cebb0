"""Customer segmentation by order value."""
import numpy as np
import pandas as pd

DATA_PATH = "/data/sales.csv"


def load_data(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def segment(values: pd.Series) -> pd.Series:
    bins = [0, 100, 500, 1000, np.inf]
    labels = ["small", "medium", "large", "very large"]
    return pd.cut(values, bins=bins, labels=labels, right=False)


def main() -> None:
    df = load_data(DATA_PATH)
    df["segment"] = segment(df["revenue"])
    counts = df["segment"].value_counts().sort_index()
    print("Orders per segment:")
    print(counts.to_string())
    shares = (counts / counts.sum() * 100).round(1)
    for name, share in shares.items():
        print(f"- {name}: {share}%")


if __name__ == "__main__":
    main()
