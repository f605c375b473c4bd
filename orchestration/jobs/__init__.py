"""What every multi-run job (a sweep, a compare) shares: the resources a run asks for
(spec.py), how many runs fit on the cluster at once (plan.py), and where a job's resolved file
lives so `--resume NAME` finds it (storage.py). Imports nothing of sweep/ or compare/."""
