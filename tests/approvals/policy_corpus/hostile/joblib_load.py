# joblib.load unpickles.
import joblib

print(joblib.load("/data/model.joblib"))
