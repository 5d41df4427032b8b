"""Infrastructure: the machine and the processes (devices, threads, torchrun, file locks, signals, progress
reporting, the generic registry). No science here: nothing in it changes a number."""
