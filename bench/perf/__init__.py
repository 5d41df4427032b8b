"""`bench perf`: how fast the harness trains, measured against baselines in the same run (`perf`), against
the machine's matmul peak (`limit`), as sweep runs per hour (`sweep_rate`) and per device option
(`device_epoch`). Only the command line imports it."""
