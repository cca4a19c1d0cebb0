# matplotlib imports module:// backends; rcParams names one.
import matplotlib.pyplot as plt

plt.rcParams["backend"] = "module://attacker_backend"
plt.figure()
