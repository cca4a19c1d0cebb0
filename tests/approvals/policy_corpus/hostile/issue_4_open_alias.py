# Issue #21: open under another name.
f = open
f("/etc/passwd")
