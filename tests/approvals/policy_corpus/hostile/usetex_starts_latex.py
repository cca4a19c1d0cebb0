# text.usetex makes matplotlib run LaTeX (and dvipng) as processes on text from the script.
import matplotlib.pyplot as plt

plt.rcParams["text.usetex"] = True
plt.title(r"\immediate\write18{id}")
