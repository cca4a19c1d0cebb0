# A name the sandbox does not define: the check cannot say what it does, nor should it guess.
import pandas as pd

df = pd.read_csv("/data/sales.csv")
display(df)
__loader__.get_data("/etc/passwd")
