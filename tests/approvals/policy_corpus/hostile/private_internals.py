# A private attribute of pandas reaches its C internals.
import pandas as pd

print(pd._libs.lib)
