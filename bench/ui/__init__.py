"""The user interface: the `bench` command line, its terminal tables and the adapter scaffold (`bench perf`
is bench/perf/). Nothing imports it."""
