# string.Formatter walks attributes named in the template, whoever calls it.
import string

print(string.Formatter().vformat("{0.__init__.__globals__}", [print], {}))
