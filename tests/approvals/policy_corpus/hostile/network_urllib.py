# urllib opens a connection.
from urllib.request import urlopen

print(urlopen("http://169.254.169.254/latest/meta-data/").read())
