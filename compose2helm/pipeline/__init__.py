"""The commands' work as a library: convert, migrate, check (drift), explain, verify; staging
output and writing it only when a whole batch succeeded."""
