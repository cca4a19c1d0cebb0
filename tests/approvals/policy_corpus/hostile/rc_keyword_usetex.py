# The same through plt.rc's keyword.
import matplotlib.pyplot as plt

plt.rc("text", usetex=True)
plt.figure()
