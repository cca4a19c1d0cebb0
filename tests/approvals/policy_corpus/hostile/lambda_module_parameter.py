# A module handed to a lambda as a parameter; the lambda calls system on it.
import os.path

run = lambda m: m.system("id")
run(os)
