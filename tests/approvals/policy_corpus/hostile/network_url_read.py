# pandas reads a URL.
import pandas as pd

df = pd.read_csv("https://attacker.example/payload.csv")
