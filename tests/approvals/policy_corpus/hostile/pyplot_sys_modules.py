# pyplot's sys attribute, then any loaded module out of sys.modules.
import matplotlib.pyplot as plt

plt.sys.modules["os"].system("id")
