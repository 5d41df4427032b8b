"""File templates shipped with prunebench (package data): `adapter.py.tmpl` is what
`bench new-adapter NAME` fills in (see bench/ui/scaffold.py)."""
