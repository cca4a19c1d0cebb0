# open handed to map.
print(list(map(open, ["/etc/passwd"])))
