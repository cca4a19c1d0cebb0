# open renamed twice before it is called on a file outside /data.
reader = open
second = reader
print(second("/proc/self/environ").read())
