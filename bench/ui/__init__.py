"""The user interface: the `bench` command line, its terminal tables, the adapter scaffold and `bench perf`.
Nothing imports it."""
